"""Signed ad-hoc URLs (core/serve_signing.py): the canonical form, a pinned vector, rotation, tampering, the keys'
setting (never echoed), and the back-end snippets of docs/serve.md, run as written."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from core.config import load_config
from core.errors import ConfigError
from core.logs import redact
from core.serve_signing import SigningKey, canonical, parse_keys, signature, signed_params, verify

DOCS = Path(__file__).resolve().parents[1] / "docs" / "serve.md"
SECRET = b"0123456789abcdef0123456789abcdef"
KEY = SigningKey("k1", SECRET)
PARAMS = {"w": "300", "h": "200", "fit": "cover", "fmt": "webp", "exp": "1700000000", "kid": "k1"}
PATH = "photos/café.jpg"


def test_the_canonical_form_is_the_path_and_the_sorted_parameters_without_sig() -> None:
    text = canonical(PATH, {**PARAMS, "sig": "ignored"})
    assert text == "polythumb-serve-v1\nphotos/café.jpg\nexp=1700000000&fit=cover&fmt=webp&h=200&kid=k1&w=300"


def test_a_pinned_vector_and_an_independent_hmac_agree() -> None:
    """HMAC-SHA256 over the canonical text's UTF-8, URL-safe base64 without padding: pinned, so it never drifts."""
    text = "polythumb-serve-v1\nphotos/café.jpg\nexp=1700000000&fit=cover&fmt=webp&h=200&kid=k1&w=300"
    expected = base64.urlsafe_b64encode(hmac.new(SECRET, text.encode(), hashlib.sha256).digest()).rstrip(b"=")
    assert signature(SECRET, PATH, PARAMS) == expected.decode() == "DYlPZ4gIHpeDq6M0XJh6HHOFHEc3vLbVzyxIm7Rp9mo"
    assert verify((KEY,), PATH, {**PARAMS, "sig": expected.decode()}) is None


def test_every_change_to_a_signed_request_is_refused() -> None:
    signed = signed_params(KEY, PATH, {"w": "300", "h": "200"}, expires=1_700_000_000)
    assert verify((KEY,), PATH, signed) is None
    for name in signed:
        if name in ("sig", "kid"):
            continue
        assert verify((KEY,), PATH, {**signed, name: signed[name] + "0"}) == "bad_signature", name
    assert verify((KEY,), PATH, {**signed, "fit": "cover"}) == "bad_signature"  # a parameter added
    assert verify((KEY,), "photos/cafe.jpg", signed) == "bad_signature"  # another path
    flipped = signed["sig"][:-1] + ("A" if signed["sig"][-1] != "A" else "B")
    assert verify((KEY,), PATH, {**signed, "sig": flipped}) == "bad_signature"
    assert verify((KEY,), PATH, {**signed, "sig": signed["sig"][:-1]}) == "bad_signature"  # not 43 characters
    assert verify((KEY,), PATH, {**signed, "kid": "k2"}) == "unknown_key"


def test_rotation_the_first_key_signs_every_listed_key_verifies() -> None:
    new, old = parse_keys("THUMBS_SERVE_KEYS", f"new:{'n' * 32},old:{'o' * 32}")
    by_old = signed_params(old, PATH, {"w": "10", "h": "10"}, expires=1_700_000_000)
    assert by_old["kid"] == "old" and verify((new, old), PATH, by_old) is None
    assert verify((new,), PATH, by_old) == "unknown_key"  # once the old key is dropped
    forged = {**by_old, "kid": "new"}  # an old signature presented as the new key's
    assert verify((new, old), PATH, forged) == "bad_signature"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("k1", "no valid key id"),
        (":" + "x" * 40, "no valid key id"),
        ("k 1:" + "x" * 40, "no valid key id"),
        ("k1:short-secret-of-27-chars", "shorter than 32"),
        ("k1:" + "x" * 40 + ",k1:" + "y" * 40, "listed twice"),
        ("k1: " + "x" * 40, "shorter than 32"),
    ],
)
def test_bad_keys_are_refused_at_start_without_echoing_the_secret(value: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as caught:
        load_config({"THUMBS_SERVE_KEYS": value})
    message = str(caught.value)
    assert "THUMBS_SERVE_KEYS" in message
    for secret in re.findall(r":([^,]+)", value):
        assert secret.strip() not in message


def test_a_key_is_never_printed_or_logged() -> None:
    config = load_config({"THUMBS_SERVE_KEYS": f"k1:{'z' * 40}"})
    assert "z" * 40 not in repr(config) and "z" * 40 not in repr(config.serve_keys)
    assert "z" * 40 not in redact(f"THUMBS_SERVE_KEYS=k1:{'z' * 40}")
    assert "z" * 40 not in redact(json.dumps({"serve_keys": f"k1:{'z' * 40}"}))


# -- the snippets of docs/serve.md, as a back end would paste them --------------------------------------------------


def snippet(language: str) -> str:
    """The one ``language`` code block of docs/serve.md's signing section."""
    blocks = re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    signing = [block for block in blocks if "polythumb-serve-v1" in block]
    assert len(signing) == 1, f"docs/serve.md has {len(signing)} {language} signing snippets"
    return signing[0]


def assert_verifies(url: str, *, expected_path: str, at: int) -> None:
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == "thumbs.example.com"
    path = unquote(parts.path.removeprefix("/"))
    params = dict(parse_qsl(parts.query))
    assert path == expected_path
    assert verify((KEY,), path, params) is None
    assert params == signed_params(KEY, path, {"w": "300", "h": "200", "fit": "cover"}, expires=at + 3600)


def test_the_python_snippet_signs_as_the_serve_function_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    namespace: dict[str, object] = {}
    exec(snippet("python"), namespace)
    monkeypatch.setattr("time.time", lambda: 1_700_000_000.5)
    url = namespace["signed_url"]("https://thumbs.example.com", PATH, "k1", SECRET.decode(), w=300, h=200, fit="cover")  # type: ignore[operator]
    assert_verifies(str(url), expected_path=PATH, at=1_700_000_000)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (the JavaScript snippet needs it)")
def test_the_javascript_snippet_signs_as_the_serve_function_verifies(tmp_path: Path) -> None:
    script = tmp_path / "sign.js"
    script.write_text(
        "Date.now = () => 1700000000500;\n" + snippet("javascript") + "\nconsole.log(signedUrl("
        f"'https://thumbs.example.com', {json.dumps(PATH)}, 'k1', {json.dumps(SECRET.decode())}, "
        "{ w: 300, h: 200, fit: 'cover' }));\n",
        encoding="utf-8",
    )
    node = shutil.which("node")
    assert node is not None
    url = subprocess.run([node, str(script)], capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert_verifies(url, expected_path=PATH, at=1_700_000_000)
