"""Ed25519 signatures of the run manifest: an anchor that a rewrite of every file cannot forge.

The manifest holds the evidence CSV's sha256 and head hash; each row holds the sha256 of its
call's files. Signing ``manifest.json`` therefore covers the whole campaign. Files, beside the
manifest:

- ``manifest.json.sig``: the 64-byte Ed25519 signature of the manifest's exact bytes;
- ``manifest.json.pub``: the public key (PEM, SubjectPublicKeyInfo), for convenience only:
  whoever rewrites the evidence can replace it with their own. The anchor is the public key
  published out of band (``harness verify --public-key FILE``), or its fingerprint.

The private key (PEM, PKCS#8, unencrypted) comes from a file of mode 0600 (``harness run
--sign-key FILE``) or from the environment variable ``HARNESS_SIGNING_KEY`` (the PEM text); it is
never written anywhere by the harness, nor echoed in a message. ``harness keygen FILE`` makes one.
Checking by hand: ``openssl pkeyutl -verify -pubin -inkey manifest.json.pub -rawin
-in manifest.json -sigfile manifest.json.sig``.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.errors import BadInput

KEY_ENV = "HARNESS_SIGNING_KEY"
SIG_SUFFIX = ".sig"
PUB_SUFFIX = ".pub"


def fingerprint(key: Ed25519PublicKey) -> str:
    """``sha256:<first 16 hex digits>`` of the raw 32-byte public key: short enough to publish."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]


def _public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def keygen(path: Path) -> tuple[Path, str]:
    """Write a new private key to ``path`` (mode 0600) and its public key to ``path.pub``.

    Refuses (BadInput) to overwrite either file. Returns (public key file, fingerprint).
    """
    pub = path.with_name(path.name + PUB_SUFFIX)
    for existing in (path, pub):
        if existing.exists():
            raise BadInput(f"{existing} exists: keygen never overwrites a key; choose another name")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        # created 0600 from the first byte: never readable by others, not even for a moment
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(pem)
        pub.write_bytes(_public_pem(key.public_key()))
    except OSError as exc:
        raise BadInput(f"{path}: cannot write the key: {exc.strerror or exc}") from exc
    return pub, fingerprint(key.public_key())


def _private_from_pem(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # the parser's message is not echoed: it could quote key material
        raise BadInput(f"{where}: not an unencrypted Ed25519 private key in PEM "
                       "(make one with: harness keygen FILE)") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInput(f"{where}: not an Ed25519 private key (make one with: harness keygen FILE)")
    return key


def load_private_key(path: Path | None, environ: os._Environ[str] | dict[str, str] | None = None
                     ) -> Ed25519PrivateKey | None:
    """The signing key: from ``path`` (a regular file no one else can read), else from the
    environment variable ``HARNESS_SIGNING_KEY`` (PEM text), else None (the run is not signed)."""
    env = os.environ if environ is None else environ
    if path is None:
        text = env.get(KEY_ENV)
        return _private_from_pem(text.encode("utf-8"), f"environment variable {KEY_ENV}") if text else None
    try:
        info = path.stat()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the signing key: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise BadInput(f"{path}: the signing key must be a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise BadInput(f"{path}: the signing key is readable by others (mode {mode:04o}): chmod 600 {path}")
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the signing key: {exc.strerror or exc}") from exc
    return _private_from_pem(pem, str(path))


def sign_manifest(manifest: Path, key: Ed25519PrivateKey) -> tuple[Path, Path, str]:
    """Sign the manifest's bytes: write ``manifest.json.sig`` and ``manifest.json.pub``.

    Returns (signature file, public key file, fingerprint).
    """
    sig = manifest.with_name(manifest.name + SIG_SUFFIX)
    pub = manifest.with_name(manifest.name + PUB_SUFFIX)
    signature = key.sign(manifest.read_bytes())
    for target, data in ((pub, _public_pem(key.public_key())), (sig, signature)):
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return sig, pub, fingerprint(key.public_key())


def check_continuation(manifest: Path, key: Ed25519PrivateKey | None) -> None:
    """Refuse (BadInput) to continue signed evidence unsigned or with another key: the manifest the
    run ends with would then fail ``verify`` (no signature beside the public key, or a key other than
    the published one)."""
    pub_path = manifest.with_name(manifest.name + PUB_SUFFIX)
    if not pub_path.exists():
        return
    before = _load_public(pub_path)
    if key is None:
        raise BadInput(f"{pub_path}: this evidence was signed; continue it with --sign-key FILE "
                       f"(or {KEY_ENV}) and the same key, or verify will refuse the unsigned manifest")
    if not isinstance(before, str) and fingerprint(before) != fingerprint(key.public_key()):
        raise BadInput(f"{pub_path}: this evidence was signed with key {fingerprint(before)}, not "
                       f"{fingerprint(key.public_key())}: continue it with the same key")


def _load_public(path: Path) -> Ed25519PublicKey | str:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        return f"{path}: cannot read the public key: {exc.strerror or exc}"
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return f"{path}: not a public key in PEM"
    if not isinstance(key, Ed25519PublicKey):
        return f"{path}: not an Ed25519 public key"
    return key


def check_signature(manifest: Path, pinned: Path | None, *, finished: bool
                    ) -> tuple[str | None, str | None, list[str]]:
    """(problem, fingerprint of the key that verified, notes) for the manifest's signature.

    With ``pinned`` the signature must exist and verify with that key. Without it a signature
    present must verify with the key beside it; a public key beside a manifest of a run that
    ended (``finished``) without a signature means the signature was removed, or the last
    rewrite of the manifest was not signed: refused. A run still ``running`` is not signed yet.
    """
    sig_path = manifest.with_name(manifest.name + SIG_SUFFIX)
    pub_path = manifest.with_name(manifest.name + PUB_SUFFIX)
    if not sig_path.exists():
        if pinned is not None:
            return (f"{sig_path}: no signature, but --public-key {pinned} requires one "
                    "(the manifest was not signed, or its signature was removed)"), None, []
        if pub_path.exists() and finished:
            return (f"{sig_path}: no signature beside {pub_path.name} (the signature was removed, or the "
                    "manifest was rewritten without --sign-key, e.g. a resume)"), None, []
        unsigned = f"the manifest is not signed yet ({pub_path.name} is there): the run has not ended"
        return None, None, ([unsigned] if pub_path.exists() else [])
    key = _load_public(pinned if pinned is not None else pub_path)
    if isinstance(key, str):
        if pinned is None and not pub_path.exists():
            return f"{sig_path}: a signature without its public key {pub_path} (give --public-key FILE)", None, []
        return key, None, []
    try:
        key.verify(sig_path.read_bytes(), manifest.read_bytes())
    except InvalidSignature:
        if pinned is not None:
            return (f"{sig_path}: the manifest's signature does not verify with the pinned key {pinned} "
                    f"({fingerprint(key)}): the manifest was changed, or signed with another key"), None, []
        return (f"{sig_path}: bad signature: the manifest was changed after it was signed "
                f"(key beside it: {fingerprint(key)})"), None, []
    except OSError as exc:
        return f"{sig_path}: cannot read: {exc.strerror or exc}", None, []
    return None, fingerprint(key), []
