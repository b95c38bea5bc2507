"""YAML read as the Kubernetes API server reads it (sigs.k8s.io/yaml: go-yaml over libyaml's scanner rules).

Kept apart from seatrial.runbook.clients.helm so that readers of manifests (the test API server) need not load the
Helm engine.
"""

from __future__ import annotations

import yaml


class KubernetesYamlLoader(yaml.SafeLoader):
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


KubernetesYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
