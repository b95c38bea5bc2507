"""YAML read as the Kubernetes API server reads it (sigs.k8s.io/yaml: go-yaml over libyaml's scanner rules).

Kept apart from seatrial.runbook.clients.helm so that readers of manifests (the test API server) need not load the
Helm engine.
"""

from __future__ import annotations

import yaml


class PureKubernetesYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the two rules where sigs.k8s.io/yaml (go-yaml, libyaml's scanner) differs:
    a TAB is whitespace between tokens where no simple key can start (so `apiVersion: v1<TAB>` is legal),
    and timestamps stay strings (JSON has no timestamp type; the API server keeps what was written)."""

    def scan_to_next_token(self) -> None:
        if self.index == 0 and self.peek() == "\ufeff":
            self.forward()
        while True:
            while self.peek() == " " or (self.peek() == "\t" and (self.flow_level or not self.allow_simple_key)):
                self.forward()
            if self.peek() == "#":
                while self.peek() not in "\0\r\n\x85\u2028\u2029":
                    self.forward()
            if not self.scan_line_break():
                return
            if not self.flow_level:
                self.allow_simple_key = True


PureKubernetesYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

try:
    from yaml.cyaml import CParser
except ImportError:  # PyYAML built without libyaml
    KubernetesYamlLoader: type = PureKubernetesYamlLoader
else:
    class KubernetesYamlLoader(CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):  # type: ignore[no-redef]
        """The same rules on libyaml's own scanner (the one go-yaml ports: a TAB after a value and a BOM need no
        help there), 14 times faster than the pure-Python one on the Velero CRDs; what the Helm engine's rendered
        manifests, values files and the test API server's request bodies are read with."""

        yaml_implicit_resolvers = PureKubernetesYamlLoader.yaml_implicit_resolvers

        def __init__(self, stream) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
