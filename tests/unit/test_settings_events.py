"""Settings refuse unsafe production config; events validate and carry no personal fields."""

import pytest
from pydantic import ValidationError

from jdl_events import events as ev
from jdl_events.topics import TOPICS, all_topic_specs, dlq
from jdl_infra.settings import InfraSettings


def test_production_refuses_default_s3_credentials(monkeypatch):
    monkeypatch.setenv("JDL_ENVIRONMENT", "production")
    monkeypatch.setenv("JDL_STORE_URL", "s3://jdl")
    monkeypatch.setenv("JDL_MASTER_KEY", "x" * 44)
    with pytest.raises(ValidationError, match="development credentials"):
        InfraSettings()
    monkeypatch.setenv("JDL_S3_ACCESS_KEY", "real")
    monkeypatch.setenv("JDL_S3_SECRET_KEY", "real-secret")
    s = InfraSettings()
    assert "real-secret" not in repr(s)


def test_services_that_encrypt_refuse_to_start_without_a_master_key(monkeypatch):
    from jdl_infra.crypto import MasterKey, MasterKeyMissing

    monkeypatch.setenv("JDL_ENVIRONMENT", "production")
    monkeypatch.delenv("JDL_MASTER_KEY", raising=False)
    with pytest.raises(MasterKeyMissing, match="refusing to store cohort data unencrypted"):
        MasterKey.from_settings(InfraSettings())


def test_event_roundtrip_through_the_union():
    sid = ev.new_submission_id()
    e = ev.SubmissionReceived(submission_id=sid, org_id="acme", setting="custody",
                              rows_submitted=100, rows_valid=98, rows_rejected=2,
                              cohort_key=f"submissions/{sid}/cohort.enc",
                              programme_key=f"submissions/{sid}/programme.json")
    back = ev.parse_event(ev.dump_event(e))
    assert back == e and isinstance(back, ev.SubmissionReceived)


def test_events_refuse_extra_fields_and_bad_ids():
    with pytest.raises(ValidationError):
        ev.PurgeRequested(submission_id="sub-" + "0" * 20, trigger="manual", surname="Smith")
    with pytest.raises(ValidationError) as e:
        ev.PurgeRequested(submission_id="John Smith 1980-01-01", trigger="manual")
    assert "John Smith" not in str(e.value)


def test_every_topic_has_a_dead_letter_topic_and_event():
    names = {t.name for t in all_topic_specs()}
    for t in TOPICS:
        assert dlq(t.name) in names
        assert t.name in ev.EVENT_OF


def test_faust_codec_validates_both_ways():
    from faust.serializers import codecs

    from jdl_infra.codec import register

    register()
    codec = codecs.get_codec("jdl-event")
    sid = ev.new_submission_id()
    e = ev.PurgeRequested(submission_id=sid, trigger="manual")
    back = codec.loads(codec.dumps(e))
    assert back == e and isinstance(back, ev.PurgeRequested)
    # pre-serialised events are validated before they go out
    assert codec.loads(codec.dumps(ev.dump_event(e))) == e
    with pytest.raises(ValidationError):
        codec.dumps(b'{"event_type": "purge.requested", "submission_id": "not an id"}')
    with pytest.raises(TypeError):
        codec.dumps({"event_type": "purge.requested"})
    with pytest.raises(ValidationError):
        codec.loads(b'{"event_type": "report.ready", "surname": "Smith"}')


def test_kafka_security_settings_reach_kafka_python_and_faust(monkeypatch, tmp_path):
    import faust

    from jdl_infra.kafka_io import client_security, faust_credentials
    from jdl_pipeline.faust_app import make_app
    from jdl_pipeline.settings import ServiceSettings

    plain = InfraSettings()
    assert client_security(plain) == {} and faust_credentials(plain) is None

    monkeypatch.setenv("JDL_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    with pytest.raises(ValidationError, match="JDL_KAFKA_SASL_USERNAME"):
        InfraSettings()
    monkeypatch.setenv("JDL_KAFKA_SASL_USERNAME", "jdl")
    monkeypatch.setenv("JDL_KAFKA_SASL_PASSWORD", "s3cret-pw")
    sasl = InfraSettings()
    assert "s3cret-pw" not in repr(sasl)                      # a secret, not printed
    assert client_security(sasl) == {"security_protocol": "SASL_PLAINTEXT",
                                     "sasl_mechanism": "SCRAM-SHA-512",
                                     "sasl_plain_username": "jdl",
                                     "sasl_plain_password": "s3cret-pw"}
    creds = faust_credentials(sasl)
    assert isinstance(creds, faust.SASLCredentials) and creds.username == "jdl"
    assert creds.ssl_context is None

    monkeypatch.setenv("JDL_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("JDL_KAFKA_SSL_CAFILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ValidationError, match="JDL_KAFKA_SSL_CAFILE"):
        InfraSettings()
    monkeypatch.delenv("JDL_KAFKA_SSL_CAFILE")
    tls = InfraSettings(data_dir=tmp_path / "data")
    kw = client_security(tls)
    assert kw["security_protocol"] == "SASL_SSL" and kw["ssl_check_hostname"] is True
    assert "ssl_cafile" not in kw                              # system CAs
    creds = faust_credentials(tls)
    assert isinstance(creds, faust.SASLCredentials) and creds.ssl_context is not None
    app = make_app("jdl-test-security", ServiceSettings(infra=tls, web_port=6099))
    assert isinstance(app.conf.broker_credentials, faust.SASLCredentials)
    assert app.conf.broker_credentials.ssl_context is not None

    monkeypatch.setenv("JDL_KAFKA_SECURITY_PROTOCOL", "SSL")
    ssl_only = InfraSettings()
    assert isinstance(faust_credentials(ssl_only), faust.SSLCredentials)
    assert "sasl_mechanism" not in client_security(ssl_only)
