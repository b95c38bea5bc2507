"""--set expressions as Helm reads them (the real parser underneath): what Helm accepts is accepted, what it
would misread or refuse is one BadInput, and a value under a secret-named key never shows in it."""

from __future__ import annotations

import pytest

from seatrial.runbook.clients.helm_values import masked_set, parse_set
from seatrial.runbook.errors import BadInput


@pytest.mark.parametrize(("expression", "values"), [
    ("a.b=c", {"a": {"b": "c"}}),
    ("a[0]=1", {"a": [1]}),
    ("d={x,y}", {"d": ["x", "y"]}),
    ("a=b=c", {"a": "b=c"}),
    ("x=1,y=2", {"x": 1, "y": 2}),
    ("nodeSelector.kubernetes\\.io/os=linux", {"nodeSelector": {"kubernetes.io/os": "linux"}}),
    ("note=a\\,b", {"note": "a,b"}),
])
def test_what_helm_accepts_is_accepted(expression, values):
    assert parse_set(expression) == values


@pytest.mark.parametrize(("expression", "says"), [
    ("a[=1", "malformed list index"),
    ("x[y]=1", "malformed list index"),
    ("=1", "no key before '='"),
    ("a..b=1", "empty part between dots"),
    ("a=1,b", "'b' has no '='"),
])
def test_what_helm_would_misread_is_refused(expression, says):
    with pytest.raises(BadInput) as raised:
        parse_set(expression)
    assert says in raised.value.message and "--set" in raised.value.fix


@pytest.mark.parametrize(("expression", "shown"), [
    ("harborAdminPassword=pw1,x[y]=1", "harborAdminPassword=***,x[y]=1"),
    ("trivy.gitHubToken=ghp_x,core.replicas=2", "trivy.gitHubToken=***,core.replicas=2"),
    ("credentials.secretContents.cloud=a\\,b", "credentials.secretContents.cloud=***"),
    ("existingSecret=my-secret,secretName=tls", "existingSecret=my-secret,secretName=tls"),
    ("database.internal.password={a,b}", "database.internal.password=***"),
])
def test_values_under_secret_keys_are_masked(expression, shown):
    assert masked_set(expression) == shown
