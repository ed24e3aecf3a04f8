"""Store apps on the edge: the TUF updater, installs into one venv per app version.

For the app runtime: :func:`installed_apps` (manifest, interpreter, entry point per
installed app) and :func:`check_entitlement` (may this site run the app now).
"""

from medcoop.edge.apps.errors import (
    AppInstallError,
    AppNotEntitledError,
    AppRefusedError,
    NotInstalledError,
)
from medcoop.edge.apps.installer import (
    ENTRY_POINT_GROUP,
    InstalledApp,
    UpdateCheck,
    apps_dir,
    check_entitlement,
    check_updates,
    install_app,
    installed_apps,
    uninstall_app,
    upgrade_app,
)
from medcoop.edge.apps.updater import has_trusted_root, save_trusted_root

__all__ = [
    "ENTRY_POINT_GROUP",
    "AppInstallError",
    "AppNotEntitledError",
    "AppRefusedError",
    "InstalledApp",
    "NotInstalledError",
    "UpdateCheck",
    "apps_dir",
    "check_entitlement",
    "check_updates",
    "has_trusted_root",
    "install_app",
    "installed_apps",
    "save_trusted_root",
    "uninstall_app",
    "upgrade_app",
]
