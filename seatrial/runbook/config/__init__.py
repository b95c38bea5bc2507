"""seatrial.yaml: load, validate and describe one migration's configuration.

`load_config(path)` returns a frozen `Config` or raises exactly one `ConfigError` naming the dotted
key and the fix. Validation reads only local files (the YAML, the kubeconfig, the credentials and
password files); it never touches the network and changes nothing.

Secret values (S3 keys, Harbor password, repository password) are wrapped in `Secret` as soon as
they are read and never appear in an error message, `repr` or `describe()`.
"""

from seatrial.runbook.config.files import kube_contexts
from seatrial.runbook.config.loading import load_config
from seatrial.runbook.config.model import *  # noqa: F403 -- the dataclasses and constants, as before the split
from seatrial.runbook.config.names import render_name

__all__ = ["kube_contexts", "load_config", "render_name"]
