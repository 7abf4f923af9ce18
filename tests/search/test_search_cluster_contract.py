"""What search._cluster relies on in Ray, checked against the installed Ray: these fail loudly
when Ray changes it. (The real head and its Ray Client server: test_search_cluster.py.)"""

import pytest

from search import _cluster
from search.errors import ClusterError


def test_ray_client_ping_is_found_in_the_protobuf_descriptors_ray_registers():
    ping = _cluster.ping_request()
    assert ping is not None, f"Ray no longer registers {_cluster.PING_METHOD} or {_cluster.PING_TYPE}: update search/_cluster.py"
    path, request = ping
    assert path == "/ray.rpc.RayletDriver/ClusterInfo"
    assert request == b"\x08\x06"  # ClusterInfoRequest{type: PING (6)}, as Ray Client's ping_server sends it


def test_the_token_is_found_where_ray_documents_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    assert _cluster.auth_token() is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("home-token\n")
    assert _cluster.auth_token() == "home-token"
    (tmp_path / "elsewhere").write_text("path-token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "elsewhere"))
    assert _cluster.auth_token() == "path-token"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "env-token")
    assert _cluster.auth_token() == "env-token"


def test_client_target_defaults_to_ray_clients_port():
    assert _cluster.client_target("ray://head") == "head:10001"
    assert _cluster.client_target("ray://10.0.0.1:23456/ns") == "10.0.0.1:23456"


def test_check_fits_reads_the_nodes_of_a_real_ray(ray_session):
    _cluster.check_fits(1, 0)  # the session's Ray has 2 CPUs, no GPU
    with pytest.raises(ClusterError, match=r"no node of the Ray cluster has 3 CPU\(s\) and 0 GPU\(s\) .*largest node: 2 CPUs, 0 GPUs"):
        _cluster.check_fits(3, 0)


def test_the_client_ping_steps_aside_on_a_ray_it_was_not_tested_with(monkeypatch):
    import ray

    monkeypatch.setattr(ray, "__version__", "3.1.0")
    assert _cluster.ping_request() is None  # ray.init then reports, if slowly
