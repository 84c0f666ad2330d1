"""Open-data crypto against the reference's test vectors (§2.9, §2.11)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.wechat import crypto
from gateway.wechat.errors import LoginRequired

# reference §2.11: official demo vector (used by wechatpy tests/test_crypto.py)
APPID = "wx4f4bc4dec97d474b"
SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
IV = "r7BXXKkLb8qrSNn05n0qiA=="
ENCRYPTED = (
    "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB"
    "+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1z"
    "Ao6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQ"
    "x4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIV"
    "WSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl"
    "7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
)
RAW_DATA = (
    '{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong",'
    '"country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7b'
    'QxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}'
)


def test_raw_data_signature_vector() -> None:
    signature = "75e81ceda165f4ffa64f4068af58c64b8f54b88c"
    assert crypto.raw_data_signature(RAW_DATA, "HyVFkGl5F5OQWJZZaNzBBg==") == signature
    assert crypto.check_raw_signature(RAW_DATA, "HyVFkGl5F5OQWJZZaNzBBg==", signature)
    assert crypto.check_raw_signature(RAW_DATA, "HyVFkGl5F5OQWJZZaNzBBg==", signature.upper())
    assert not crypto.check_raw_signature(RAW_DATA + " ", "HyVFkGl5F5OQWJZZaNzBBg==", signature)
    assert not crypto.check_raw_signature(RAW_DATA, "HyVFkGl5F5OQWJZZaNzBBg==", "00")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "HyVFkGl5F5OQWJZZaNzBBg==",
            "252b75c92698025afe925b29cca5517fdf9ee67aae072cf3225ebf3a53783058",
        ),
        (
            "tiihtNczf5v6AKRyjwEUhQ==",
            "7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735",
        ),
    ],
)
def test_checksession_signature_vectors(key: str, expected: str) -> None:
    assert crypto.checksession_signature(key) == expected


def test_login_state_signature_example() -> None:
    # reference §2.9: the official example fixes key = session_key string, message = payload
    expected = "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"
    assert crypto.session_signature("o0q0otL8aEzpcZL/FT9WsQ==", '{"foo":"bar"}') == expected


def test_decrypt_official_vector() -> None:
    data = crypto.decrypt_open_data(SESSION_KEY, IV, ENCRYPTED, APPID)
    assert data["openId"] == "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
    assert data["unionId"] == "ocMvos6NjeKLIBqg5Mr9QjxrP1FA"
    assert data["watermark"] == {"timestamp": 1477314187, "appid": APPID}


def test_watermark_of_another_app_is_rejected() -> None:
    with pytest.raises(crypto.InvalidOpenData) as info:
        crypto.decrypt_open_data(SESSION_KEY, IV, ENCRYPTED, "wx0000000000000000")
    assert info.value.status == 400


def test_rotated_session_key_means_login_again() -> None:
    with pytest.raises(crypto.SessionKeyStale) as info:
        crypto.decrypt_open_data("HyVFkGl5F5OQWJZZaNzBBg==", IV, ENCRYPTED, APPID)
    assert isinstance(info.value, LoginRequired) and info.value.status == 401
    assert SESSION_KEY not in str(info.value)


@pytest.mark.parametrize(
    ("key", "iv", "data"),
    [
        ("not base64!", IV, ENCRYPTED),
        (base64.b64encode(b"x" * 15).decode(), IV, ENCRYPTED),  # key must be 16 bytes
        (SESSION_KEY, base64.b64encode(b"x" * 8).decode(), ENCRYPTED),
        (SESSION_KEY, IV, base64.b64encode(b"x" * 17).decode()),  # not whole blocks
        (SESSION_KEY, IV, ""),
    ],
)
def test_malformed_input(key: str, iv: str, data: str) -> None:
    with pytest.raises(crypto.InvalidOpenData):
        crypto.decrypt_open_data(key, iv, data, APPID)


def _encrypt_raw(plain: bytes) -> str:
    cipher = Cipher(algorithms.AES(base64.b64decode(SESSION_KEY)), modes.CBC(base64.b64decode(IV)))
    enc = cipher.encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def test_strict_pkcs7_rejects_lenient_padding() -> None:
    # 32 bytes of pad value 32: wechatpy's decoder accepts this, a strict PKCS#7 one must not.
    body = json.dumps({"watermark": {"appid": APPID}}).encode()
    body += b" " * (-len(body) % 16)
    with pytest.raises(crypto.SessionKeyStale):
        crypto.decrypt_open_data(SESSION_KEY, IV, _encrypt_raw(body + bytes([32]) * 32), APPID)
    with pytest.raises(crypto.SessionKeyStale):  # inconsistent pad bytes
        crypto.decrypt_open_data(
            SESSION_KEY, IV, _encrypt_raw(body + b"\x01" * 15 + b"\x10"), APPID
        )


def test_round_trip() -> None:
    data = {"openId": "o1", "nickName": "张三 🐼", "watermark": {"appid": APPID, "timestamp": 1}}
    encrypted = crypto.encrypt_open_data(SESSION_KEY, IV, data)
    assert crypto.decrypt_open_data(SESSION_KEY, IV, encrypted, APPID) == data
