"""Official-account push crypto and parsing (reference §2.15), cross-checked against wechatpy,
an independent implementation (test dependency only)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from wechatpy.crypto import WeChatCrypto

from gateway.wechat import (
    EventMessage,
    MessageCipher,
    MessageRejected,
    check_signature,
    encrypted_reply,
    envelope_xml,
    event_xml,
    reply_xml,
    signature,
    verify_push,
)
from gateway.wechat.messages import parse_xml

TOKEN, APPID = "consoleToken1", "wx00000000000000b2"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters


def test_signature_is_sha1_of_the_sorted_parts() -> None:
    expected = hashlib.sha1("".join(sorted([TOKEN, "1700000000", "42"])).encode()).hexdigest()
    assert signature(TOKEN, "1700000000", "42") == expected
    assert check_signature(expected, TOKEN, "1700000000", "42")
    assert not check_signature(expected.upper(), TOKEN, "1700000000", "42")
    assert not check_signature(None, TOKEN, "1700000000", "42")


def test_our_encryption_decrypts_with_wechatpy_and_back() -> None:
    xml = event_xml("gh_1", "oOpenid", 1700000000, "subscribe", "qrscene_abc", "tk")
    ours = MessageCipher(KEY, APPID)
    encrypt = ours.encrypt(xml)
    assert len(base64.b64decode(encrypt)) % 32 == 0  # PKCS#7 to 32-byte blocks
    theirs = WeChatCrypto(TOKEN, KEY, APPID)
    body = envelope_xml("gh_1", encrypt).decode()
    sig = signature(TOKEN, "1700000000", "42", encrypt)
    assert theirs.decrypt_message(body, sig, "1700000000", "42") == xml.decode()
    # wechatpy's encrypted reply decrypts with ours (its signature checks out too)
    reply = theirs.encrypt_message(reply_xml("oOpenid", "gh_1", 1, "hi").decode(), "42", 1)
    fields = parse_xml(reply.encode())
    assert check_signature(fields["MsgSignature"], TOKEN, fields["TimeStamp"], fields["Nonce"],
                           fields["Encrypt"])  # fmt: skip
    assert b"<Content><![CDATA[hi]]></Content>" in ours.decrypt(fields["Encrypt"])
    ours_reply = parse_xml(encrypted_reply(ours, TOKEN, b"<xml><A>1</A></xml>", 1700000000))
    assert ours.decrypt(ours_reply["Encrypt"]) == b"<xml><A>1</A></xml>"


def test_another_accounts_message_is_refused() -> None:
    encrypt = MessageCipher(KEY, "wx00000000000000ff").encrypt(b"<xml/>")
    with pytest.raises(MessageRejected) as info:
        MessageCipher(KEY, APPID).decrypt(encrypt)
    assert info.value.reason == "bad_signature"
    for garbage in ("not base64!", base64.b64encode(b"x" * 31).decode(), ""):
        with pytest.raises(MessageRejected) as info:
            MessageCipher(KEY, APPID).decrypt(garbage)
        assert info.value.reason == "malformed"


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><A>&e;</A></xml>',
        b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><A>&b;</A></xml>',
        b"<xml><A>unclosed</xml>",
        b"<html><A>1</A></html>",
        b"",
        # an encoding Python lacks, or one that is no text encoding: was a 500 (LookupError)
        b'<?xml version="1.0" encoding="bogus"?><xml/>',
        b'<?xml version="1.0" encoding="rot13"?><xml/>',
    ],
    ids=["xxe", "laughs", "broken", "not-xml-root", "empty", "unknown-encoding", "rot13"],
)
def test_dtds_entities_and_broken_xml_are_refused(body: bytes) -> None:
    with pytest.raises(MessageRejected) as info:
        parse_xml(body)
    assert info.value.reason == "malformed" and "passwd" not in str(info.value)


def test_scenes_of_subscribe_and_scan() -> None:
    def event(kind: str, key: str) -> EventMessage:
        return EventMessage.of(parse_xml(event_xml("gh", "o1", 1, kind, key, "t")))

    assert event("subscribe", "qrscene_s1").scene == "s1"  # a new follower (§2.15)
    assert event("SCAN", "s1").scene == "s1"  # a follower: no prefix
    assert event("subscribe", "").scene is None  # an ordinary follow
    assert event("unsubscribe", "").scene is None
    assert event("SCAN", "s1").dedupe_key == "o1:1"


def test_verify_push_checks_in_order() -> None:
    xml = event_xml("gh", "o1", 1700000000, "SCAN", "s", "t")
    params = {"signature": signature(TOKEN, "1700000000", "7"), "timestamp": "1700000000",
              "nonce": "7"}  # fmt: skip
    push = verify_push(params, xml, token=TOKEN, mode="plain", cipher=None, now=1700000300)
    assert push.message.scene == "s" and not push.encrypted
    with pytest.raises(MessageRejected) as info:
        verify_push(params, xml, token=TOKEN, mode="plain", cipher=None, now=1700000301)
    assert info.value.reason == "stale"
    with pytest.raises(MessageRejected) as info:
        verify_push(params, xml, token=TOKEN, mode="safe", cipher=MessageCipher(KEY, APPID),
                    now=1700000000)  # fmt: skip
    assert info.value.reason == "malformed"  # safe mode: plaintext refused
    with pytest.raises(MessageRejected) as info:
        verify_push(params | {"signature": "0" * 40}, b"<!DOCTYPE x []><xml/>", token=TOKEN,
                    mode="plain", cipher=None, now=1700000000)  # fmt: skip
    assert info.value.reason == "bad_signature"  # the signature first, before any parsing


@pytest.mark.parametrize("timestamp", ["\u00b2", "1" * 5000, "\u0663" * 10, ""])
def test_a_signed_timestamp_that_is_no_time_is_stale_not_a_crash(timestamp: str) -> None:
    """Signed with the right Token, yet no epoch seconds: "²" passes ``str.isdigit`` and
    fails ``int``; 5,000 digits exceed ``int``'s limit (both were a 500 through the server)."""
    xml = event_xml("gh", "o1", 1700000000, "SCAN", "s", "t")
    params = {"signature": signature(TOKEN, timestamp, "7"), "timestamp": timestamp, "nonce": "7"}
    with pytest.raises(MessageRejected) as info:
        verify_push(params, xml, token=TOKEN, mode="plain", cipher=None, now=1700000000)
    assert info.value.reason == "stale"
