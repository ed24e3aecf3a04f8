"""Accounts: organisations, people, sites, enrollment, tokens, who may do what, the directory.

- :mod:`.provisioning`: creating organisations, users, memberships, sites, enrollment
  codes, tokens, invitations; login and edge enrollment;
- :mod:`.auth`: principals, roles, permissions, token checks (the one role → permission map);
- :mod:`.directory`: reading and editing a tenant's organisations, sites, devices, members.
"""

from medcoop.hub.services.accounts.auth import (
    ROLE_PERMISSIONS,
    Permission,
    Principal,
    authenticate_token,
    roles_of,
)
from medcoop.hub.services.accounts.directory import (
    get_device,
    get_member,
    get_organisation,
    get_site,
    list_devices,
    list_members,
    list_organisations,
    list_sites,
    remove_member,
    update_device,
)
from medcoop.hub.services.accounts.provisioning import (
    Enrollment,
    ProvisionedSite,
    accept_invitation,
    add_membership,
    create_invitation,
    create_organisation,
    create_site,
    create_user,
    enroll_edge,
    issue_enrollment_code,
    issue_token,
    login,
    normalise_email,
    provision_site,
    revoke_token,
)

__all__ = [
    "ROLE_PERMISSIONS",
    "Enrollment",
    "Permission",
    "Principal",
    "ProvisionedSite",
    "accept_invitation",
    "add_membership",
    "authenticate_token",
    "create_invitation",
    "create_organisation",
    "create_site",
    "create_user",
    "enroll_edge",
    "get_device",
    "get_member",
    "get_organisation",
    "get_site",
    "issue_enrollment_code",
    "issue_token",
    "list_devices",
    "list_members",
    "list_organisations",
    "list_sites",
    "login",
    "normalise_email",
    "provision_site",
    "remove_member",
    "revoke_token",
    "roles_of",
    "update_device",
]
