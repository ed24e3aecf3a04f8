"""An edge with apps in a process of its own (the SIGKILL test kills it): settings as JSON."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from medcoop.edge.config import EdgeSettings
from medcoop.edge.node import EdgeNode


def main() -> None:
    settings = EdgeSettings.model_validate_json(Path(sys.argv[1]).read_text())
    node = EdgeNode(settings)
    node.start()
    print(json.dumps({"dicom_port": node.dicom_port}), flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
