"""Prove the test harness works: fake Twilio, SMTP server and real backing services."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from coaching.channels.twilio_http import (
    RedirectingAsyncTwilioHttpClient,
    RedirectingTwilioHttpClient,
    parse_retry_after,
    rewrite_url,
)
from tests.support import services
from tests.support.fake_twilio import FakeTwilio, num_segments
from tests.support.smtp import SmtpServer

SENDER = "+15005550006"
RECIPIENT = "+447700900123"
CALLBACK = "https://slipguard.test/hooks/twilio/status"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    """A running fake Twilio API."""
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def http_client(fake: FakeTwilio) -> RedirectingTwilioHttpClient:
    """A real SDK HTTP client aimed at the fake."""
    return RedirectingTwilioHttpClient(fake.url, timeout=5)


@pytest.fixture
def client(fake: FakeTwilio, http_client: RedirectingTwilioHttpClient) -> Client:
    """The real Twilio SDK client, talking to the fake."""
    return Client(fake.account_sid, fake.auth_token, http_client=http_client)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A running SMTP server."""
    with SmtpServer() as server:
        yield server


def _send_error(client: Client, to: str = RECIPIENT) -> TwilioRestException:
    """Send a message that is expected to fail and return the SDK's exception."""
    with pytest.raises(TwilioRestException) as info:
        client.messages.create(to=to, from_=SENDER, body="hello")
    return info.value


# --- Twilio -------------------------------------------------------------------------------


def test_sdk_message_reaches_fake(fake: FakeTwilio, client: Client) -> None:
    """The real SDK sends through the redirecting client and the fake records it."""
    sent = client.messages.create(
        to=RECIPIENT, from_=SENDER, body="Your form is missing a date", status_callback=CALLBACK
    )

    assert sent.sid.startswith("SM") and len(sent.sid) == 34
    assert sent.status == "queued"
    assert sent.account_sid == fake.account_sid
    assert sent.num_segments == "1"
    [recorded] = fake.messages
    assert recorded.sid == sent.sid
    assert (recorded.to, recorded.from_, recorded.body) == (
        RECIPIENT,
        SENDER,
        "Your form is missing a date",
    )
    assert recorded.status_callback == CALLBACK
    assert recorded.messaging_service_sid is None


def test_messaging_service_send_and_fetch(fake: FakeTwilio, client: Client) -> None:
    """Messaging-service sends are accepted and fetch reflects status changes."""
    service_sid = "MG" + "a" * 32
    sent = client.messages.create(to=RECIPIENT, messaging_service_sid=service_sid, body="hi")
    assert sent.status == "accepted"
    assert fake.messages[0].messaging_service_sid == service_sid

    fake.set_status(sent.sid, "undelivered", error_code=30003)
    fetched = client.messages(sent.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)


def test_bad_credentials_are_rejected(
    fake: FakeTwilio, http_client: RedirectingTwilioHttpClient
) -> None:
    """Wrong auth token gives Twilio's 401/20003."""
    wrong = Client(fake.account_sid, "not-the-token", http_client=http_client)
    error = _send_error(wrong)
    assert (error.status, error.code) == (401, 20003)
    assert fake.messages == []


def test_injected_429_exposes_retry_after(
    fake: FakeTwilio, client: Client, http_client: RedirectingTwilioHttpClient
) -> None:
    """An injected 429 surfaces as 429/20429 and its Retry-After is readable."""
    fake.fail_next(429, 20429, retry_after=7)
    error = _send_error(client)
    assert (error.status, error.code) == (429, 20429)
    assert http_client.last_retry_after() == 7.0

    # The fault was used up: the retry goes through and clears the remembered header.
    client.messages.create(to=RECIPIENT, from_=SENDER, body="again")
    assert http_client.last_retry_after() is None
    assert len(fake.messages) == 1


def test_injected_plain_text_500(fake: FakeTwilio, client: Client) -> None:
    """Non-JSON 500 responses still become TwilioRestException with status 500."""
    fake.fail_next(500, 20500, json_body=False, times=2)
    for _ in range(2):
        error = _send_error(client)
        assert error.status == 500
    assert client.messages.create(to=RECIPIENT, from_=SENDER, body="ok").status == "queued"


def test_rate_limit_rejects_third_message_within_a_second(
    fake: FakeTwilio, client: Client, http_client: RedirectingTwilioHttpClient
) -> None:
    """rate_limit(2) turns the third send in a second into 429."""
    fake.rate_limit(2)
    client.messages.create(to=RECIPIENT, from_=SENDER, body="1")
    client.messages.create(to=RECIPIENT, from_=SENDER, body="2")
    error = _send_error(client)
    assert (error.status, error.code) == (429, 20429)
    assert http_client.last_retry_after() == 1.0
    assert [m.body for m in fake.messages] == ["1", "2"]


def test_unsubscribed_and_invalid_recipients(fake: FakeTwilio, client: Client) -> None:
    """fail_to, fail_next and To validation yield Twilio's error codes."""
    fake.fail_to("+447700900999", 400, 21610)
    error = _send_error(client, to="+447700900999")
    assert (error.status, error.code) == (400, 21610)
    assert "unsubscribed" in error.msg

    fake.fail_next(400, 21211)
    assert _send_error(client).code == 21211
    assert _send_error(client, to="not-a-number").code == 21211
    # Other recipients are unaffected by fail_to.
    client.messages.create(to=RECIPIENT, from_=SENDER, body="fine")
    assert [m.to for m in fake.messages] == [RECIPIENT]


def test_status_callback_params_validate_with_twilio_signature(
    fake: FakeTwilio, client: Client
) -> None:
    """Status callback params can be signed and validated like Twilio's."""
    client.messages.create(to=RECIPIENT, from_=SENDER, body="x", status_callback=CALLBACK)
    [message] = fake.messages
    params = fake.status_callback_params(message, "failed", error_code=30008)
    assert params["MessageSid"] == message.sid
    assert params["MessageStatus"] == "failed"
    assert params["ErrorCode"] == "30008"
    assert (params["AccountSid"], params["From"], params["To"]) == (
        fake.account_sid,
        SENDER,
        RECIPIENT,
    )

    validator = RequestValidator(fake.auth_token)
    signature = validator.compute_signature(CALLBACK, params)
    assert validator.validate(CALLBACK, params, signature)


async def test_async_sdk_client(fake: FakeTwilio) -> None:
    """The async SDK path works against the fake, including Retry-After."""
    http = RedirectingAsyncTwilioHttpClient(fake.url, timeout=5)
    try:
        client = Client(fake.account_sid, fake.auth_token, http_client=http)
        sent = await client.messages.create_async(to=RECIPIENT, from_=SENDER, body="async hi")
        assert sent.status == "queued"
        assert fake.messages[0].body == "async hi"

        fake.fail_next(429, 20429, retry_after=2.5)
        with pytest.raises(TwilioRestException) as info:
            await client.messages.create_async(to=RECIPIENT, from_=SENDER, body="later")
        assert info.value.code == 20429
        assert http.last_retry_after() == 2.5
    finally:
        await http.close()


def test_rewrite_url_only_touches_twilio_hosts() -> None:
    """Only *.twilio.com URLs are moved onto the base URL."""
    base = "http://127.0.0.1:8099"
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?PageSize=5"
    assert rewrite_url(url, base) == (
        "http://127.0.0.1:8099/2010-04-01/Accounts/AC1/Messages.json?PageSize=5"
    )
    regional = "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts.json"
    assert rewrite_url(regional, base + "/twilio/") == (
        "http://127.0.0.1:8099/twilio/2010-04-01/Accounts.json"
    )
    assert rewrite_url("https://example.com/x", base) == "https://example.com/x"
    assert rewrite_url("https://nottwilio.com/x", base) == "https://nottwilio.com/x"
    assert rewrite_url(url, None) == url


def test_parse_retry_after() -> None:
    """Retry-After accepts delta-seconds and HTTP-dates."""
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(None) is None


def test_num_segments() -> None:
    """Segment counts follow GSM-7 and UCS-2 limits."""
    assert num_segments("a" * 160) == 1
    assert num_segments("a" * 161) == 2
    assert num_segments("€" * 80) == 1  # extension characters take two septets
    assert num_segments("€" * 81) == 2
    assert num_segments("ł" * 70) == 1  # outside GSM-7, so UCS-2
    assert num_segments("ł" * 71) == 2


# --- SMTP ---------------------------------------------------------------------------------


def _multipart(to: str) -> EmailMessage:
    """A text + HTML message like the nudges we send."""
    message = EmailMessage()
    message["From"] = "nudges@slipguard.test"
    message["To"] = to
    message["Subject"] = "Nearly there: one field left (café)"
    message.set_content("Plain text part ✓")
    message.add_alternative("<p>HTML part ✓</p>", subtype="html")
    return message


async def test_aiosmtplib_multipart_mail_is_received(smtp: SmtpServer) -> None:
    """aiosmtplib delivers a text+HTML message with both parts intact."""
    await aiosmtplib.send(_multipart("ana@example.test"), hostname=smtp.host, port=smtp.port)

    [mail] = smtp.wait_for(1)
    assert mail.mail_from == "nudges@slipguard.test"
    assert mail.rcpt_tos == ["ana@example.test"]
    assert mail.message["Subject"] == "Nearly there: one field left (café)"
    text = mail.message.get_body(preferencelist=("plain",))
    html = mail.message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().strip() == "Plain text part ✓"
    assert html.get_content().strip() == "<p>HTML part ✓</p>"


def test_smtplib_mail_is_received(smtp: SmtpServer) -> None:
    """smtplib delivers to several recipients; wait_for times out when short."""
    with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as conn:
        conn.send_message(_multipart("bo@example.test"), to_addrs=["bo@example.test", "cc@x.test"])
    [mail] = smtp.wait_for(1)
    assert mail.rcpt_tos == ["bo@example.test", "cc@x.test"]
    with pytest.raises(TimeoutError):
        smtp.wait_for(2, timeout=0.1)


# --- backing services ---------------------------------------------------------------------


def test_redis_answers_ping() -> None:
    """The Redis finder yields a server that answers PING."""
    import redis

    client = redis.Redis.from_url(services.require(services.redis_url), socket_timeout=5)
    try:
        assert client.ping()
    finally:
        client.close()


def test_rabbitmq_accepts_a_queue() -> None:
    """The AMQP finder yields a broker that declares a queue, counts its messages and
    deletes it again."""
    import pika
    import pika.exceptions

    params = pika.URLParameters(services.require(services.amqp_url))
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        queue = f"slipguard-harness-{uuid.uuid4().hex}"
        channel.confirm_delivery()  # publish returns once the broker has routed the message
        declared = channel.queue_declare(queue=queue, auto_delete=True)
        assert declared.method.queue == queue and declared.method.message_count == 0
        channel.basic_publish(exchange="", routing_key=queue, body=b"ping")
        assert channel.queue_declare(queue=queue, passive=True).method.message_count == 1
        channel.queue_delete(queue=queue)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as gone:
            channel.queue_declare(queue=queue, passive=True)
        assert gone.value.reply_code == 404
    finally:
        connection.close()


async def test_postgres_database_lifecycle() -> None:
    """A scratch database can be created, queried and dropped."""
    import asyncpg

    server = services.require(services.postgres_url)
    name = f"slipguard_harness_{uuid.uuid4().hex[:12]}"
    url = services.create_database(server, name)
    try:
        assert url.rsplit("/", 1)[1] == name
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("select 1") == 1
            assert await conn.fetchval("select current_database()") == name
        finally:
            await conn.close()
    finally:
        services.drop_database(server, name)


def _port_is_closed(port: int) -> bool:
    """Whether nothing accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def test_private_redis_starts_and_stops() -> None:
    """A private redis-server starts, answers and is fully removed by stop()."""
    import redis

    try:
        instance = services.start_redis()
    except services.ServiceUnavailable as exc:
        pytest.skip(str(exc))
    port = redis.Redis.from_url(instance.url).connection_pool.connection_kwargs["port"]
    try:
        assert redis.Redis.from_url(instance.url).ping()
    finally:
        instance.stop()
    assert _port_is_closed(port)
    assert not instance.workdir.exists()


def test_private_postgres_starts_and_stops() -> None:
    """A private PostgreSQL starts, answers and is fully removed by stop()."""
    import asyncpg

    try:
        instance = services.start_postgres()
    except services.ServiceUnavailable as exc:
        pytest.skip(str(exc))

    async def probe() -> int:
        conn = await asyncpg.connect(instance.url)
        try:
            return int(await conn.fetchval("select 1"))
        finally:
            await conn.close()

    port = int(instance.url.rsplit(":", 1)[1].split("/")[0])
    try:
        assert asyncio.run(probe()) == 1
    finally:
        instance.stop()
    assert _port_is_closed(port)
    assert not instance.workdir.exists()


def test_finders_cache_their_result() -> None:
    """A finder returns the same URL on every call."""
    first = services.require(services.redis_url)
    assert services.redis_url() == first


def test_free_port_is_bindable() -> None:
    """free_port() returns a port that can be bound."""
    port = services.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        assert sock.getsockname() == ("127.0.0.1", port) and 1024 <= port <= 65535
