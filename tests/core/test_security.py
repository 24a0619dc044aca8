"""Credentials: API keys stored as digests, passwords as scrypt hashes."""

from __future__ import annotations

from smartcustoms.core.security import api_key_digest, api_key_prefix, hash_password, new_api_key, verify_password


def test_api_keys_are_stored_as_digests_and_passwords_as_scrypt():
    key, prefix, digest = new_api_key()
    assert api_key_prefix(key) == prefix and api_key_digest(key) == digest and key not in digest
    assert api_key_prefix("not-a-key") is None
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert verify_password("correct horse", stored) and not verify_password("wrong", stored)
    assert not verify_password("x", "garbage")
