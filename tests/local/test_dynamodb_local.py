"""The DynamoDB Local runner: starts on a free port, answers, keeps data on disk across restarts, can be
killed like a crash, and says what to do when Java or the jar is missing."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from local.dynamodb_local import (
    SHORT_LIVED_JVM_OPTIONS,
    DynamoDBLocal,
    DynamoDBLocalError,
    find_install_dir,
    free_port,
)

TABLE = {
    "TableName": "runner-test",
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def _client(server: DynamoDBLocal):
    return boto3.client(
        "dynamodb",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="runner",
        aws_secret_access_key="runner",
        config=Config(connect_timeout=1, read_timeout=5, retries={"total_max_attempts": 1}),
    )


def test_session_server_answers_on_its_endpoint(dynamodb_local):
    assert dynamodb_local.running
    assert dynamodb_local.endpoint_url == f"http://127.0.0.1:{dynamodb_local.port}"
    assert "TableNames" in _client(dynamodb_local).list_tables()


def test_the_test_sessions_server_compiles_with_c1_only(dynamodb_local):
    command_line = Path(f"/proc/{dynamodb_local.pid}/cmdline").read_bytes().split(b"\0")

    assert [option.decode() for option in command_line if option.startswith(b"-XX:")] == list(SHORT_LIVED_JVM_OPTIONS)


def test_on_disk_data_survives_a_restart_on_the_same_port_and_a_kill_stops_it(tmp_path):
    # GIVEN a server keeping its data on disk, with one item written
    server = DynamoDBLocal(db_path=tmp_path / "ddb").start()
    try:
        port = server.port
        _client(server).create_table(**TABLE)
        _client(server).put_item(TableName="runner-test", Item={"pk": {"S": "kept"}})

        # WHEN it is restarted
        server.restart()

        # THEN it is back on the same port with the same data
        assert server.port == port
        item = _client(server).get_item(TableName="runner-test", Key={"pk": {"S": "kept"}})
        assert item["Item"] == {"pk": {"S": "kept"}}

        # AND a kill takes it away at once, as a crash would
        server.kill()
        assert not server.running
        with pytest.raises(EndpointConnectionError):
            _client(server).list_tables()
    finally:
        server.stop()


def test_stop_ends_the_process(tmp_path):
    server = DynamoDBLocal().start()

    server.stop()

    assert not server.running
    with pytest.raises(EndpointConnectionError):
        _client(server).list_tables()


def test_missing_java_says_how_to_install_a_jre():
    with pytest.raises(DynamoDBLocalError, match="apt-get install default-jre-headless"):
        DynamoDBLocal(java="no-such-java-binary").start()


def test_missing_jar_says_to_run_make_setup(tmp_path):
    with pytest.raises(DynamoDBLocalError, match="run `make setup`"):
        DynamoDBLocal(install_dir=tmp_path).start()


def test_missing_npm_package_says_to_run_make_setup(tmp_path):
    with pytest.raises(DynamoDBLocalError, match="run `make setup`"):
        find_install_dir(tmp_path)


def test_free_ports_are_never_ones_the_kernel_could_give_an_outgoing_connection():
    # A port from the ephemeral range can be taken by any connect() on the machine before the jar binds it.
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])

    ports = {free_port() for _ in range(50)}

    assert all(1024 <= port < first_ephemeral for port in ports)
    assert len(ports) > 1


def test_a_taken_port_is_refused_rather_than_mistaken_for_a_started_server(dynamodb_local):
    # The session server answers on its port; a second one must not take those answers for its own.
    clash = DynamoDBLocal(port=dynamodb_local.port)

    with pytest.raises(DynamoDBLocalError, match=f"port {dynamodb_local.port} is already in use"):
        clash.start()
    assert not clash.running


def test_a_server_that_exits_at_start_is_reported_with_its_output():
    with pytest.raises(DynamoDBLocalError, match="exited with code"):
        DynamoDBLocal(extra_args=["-no-such-option"]).start()


def _journal_mode(database) -> str:
    with contextlib.closing(sqlite3.connect(database)) as db:
        mode: str = db.execute("PRAGMA journal_mode").fetchone()[0]
        return mode


def test_write_ahead_log_is_what_on_disk_databases_journal_with_afterwards(tmp_path):
    # GIVEN a server on disk whose database file exists (the first request created it)
    server = DynamoDBLocal(db_path=tmp_path / "ddb").start()
    try:
        _client(server).create_table(**TABLE)
        (database,) = (tmp_path / "ddb").glob("runner_*.db")
        assert _journal_mode(database) == "delete"

        # WHEN it is switched to the write-ahead log
        server.use_write_ahead_log()

        # THEN the file journals in WAL mode
        assert _journal_mode(database) == "wal"
    finally:
        server.stop()


def test_items_written_in_wal_mode_survive_a_kill_and_a_restart(tmp_path):
    # GIVEN a server on disk switched to the write-ahead log, with one item acknowledged after the switch
    server = DynamoDBLocal(db_path=tmp_path / "ddb").start()
    try:
        _client(server).create_table(**TABLE)
        server.use_write_ahead_log()
        _client(server).put_item(TableName="runner-test", Item={"pk": {"S": "after-switch"}})

        # WHEN it is killed, as a crash would, and started again on the same data
        server.kill()
        server.start()

        # THEN the item is there
        item = _client(server).get_item(TableName="runner-test", Key={"pk": {"S": "after-switch"}})
        assert item["Item"] == {"pk": {"S": "after-switch"}}
    finally:
        server.stop()
