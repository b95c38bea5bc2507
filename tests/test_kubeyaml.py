"""Both readers of Kubernetes YAML give the same documents: libyaml's (used where PyYAML has it) and the
pure-Python fallback, on the rules that differ from plain YAML and on the Velero CRDs seatrial ships."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from seatrial.runbook.clients.kubeyaml import KubernetesYamlLoader, PureKubernetesYamlLoader

CASES = {
    "a TAB after a value": "apiVersion: v1\t\nkind: ConfigMap\n",
    "timestamps stay strings": "when: 2024-01-02T03:04:05Z\nday: 2001-01-01\n",
    "YAML 1.1 booleans and quoted ones": "a: on\nb: 'yes'\nc: [1,\t2]\n",
    "a BOM": "\ufeffa: 1\n",
}


def test_the_fast_reader_is_libyamls_here():
    assert KubernetesYamlLoader is not PureKubernetesYamlLoader, "PyYAML here has libyaml: the fast reader is used"


@pytest.mark.parametrize("text", list(CASES.values()), ids=list(CASES))
def test_both_readers_agree_on_the_kubernetes_rules(text: str):
    fast, pure = (yaml.load(text, Loader=loader) for loader in (KubernetesYamlLoader, PureKubernetesYamlLoader))  # noqa: S506
    assert fast == pure
    assert not any(type(value).__name__ in ("date", "datetime") for value in fast.values())


def test_both_readers_refuse_a_tab_used_as_indentation():
    for loader in (KubernetesYamlLoader, PureKubernetesYamlLoader):
        with pytest.raises(yaml.YAMLError):
            yaml.load("kind: ConfigMap\nmetadata:\n\tname: a\n", Loader=loader)  # noqa: S506


def test_both_readers_agree_on_the_velero_crds():
    crds = resources.files("seatrial.runbook.clients") / "velero_crds"
    texts = [path.read_text() for path in crds.iterdir() if path.name.endswith(".yaml")]
    assert texts
    for text in texts:
        assert list(yaml.load_all(text, Loader=KubernetesYamlLoader)) == \
            list(yaml.load_all(text, Loader=PureKubernetesYamlLoader))  # noqa: S506
