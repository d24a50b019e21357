"""trainer/runtime/jobset_cluster.py: TF_CONFIG from what JobSet and the Job controller give
a TrainJob's pod."""
import json

import pytest

from trainer.runtime import jobset_cluster as jc


def _env(index=1, nodes=3, **extra):
    env = {jc.JOBSET_NAME_ENV: "trainer-cnn-1a2b3c4d", jc.REPLICATED_JOB_ENV: "node",
           jc.JOB_INDEX_ENV: "0", jc.COMPLETION_INDEX_ENV: str(index),
           jc.NUM_NODES_ENV: str(nodes)}
    env.update(extra)
    return env


def test_every_pod_gets_the_pod_dns_names_and_its_own_index():
    config = jc.tf_config(_env(index=1))
    # <jobset>-<replicatedJob>-<jobIdx>-<podIdx>.<subdomain>, subdomain = the JobSet's name
    assert config == {"cluster": {"worker": [
        f"trainer-cnn-1a2b3c4d-node-0-{i}.trainer-cnn-1a2b3c4d:2222" for i in range(3)]},
        "task": {"type": "worker", "index": 1}, "environment": "cloud"}
    assert jc.tf_config(_env(index=0))["task"]["index"] == 0
    assert jc.tf_config(_env(index=0))["cluster"] == config["cluster"]  # all agree


def test_a_runtime_subdomain_and_a_network_address_map_are_honoured():
    config = jc.tf_config(_env(nodes=2, **{jc.SUBDOMAIN_ENV: "tf"}))
    assert config["cluster"]["worker"][1] == "trainer-cnn-1a2b3c4d-node-0-1.tf:2222"
    names = [f"trainer-cnn-1a2b3c4d-node-0-{i}.trainer-cnn-1a2b3c4d:2222" for i in range(2)]
    mapping = {names[0]: "127.0.0.1:4001", names[1]: "127.0.0.1:4002"}
    config = jc.tf_config(_env(nodes=2, **{jc.ADDRESS_MAP_ENV: json.dumps(mapping)}))
    assert config["cluster"]["worker"] == ["127.0.0.1:4001", "127.0.0.1:4002"]
    with pytest.raises(jc.ClusterEnvError, match="no address for"):
        jc.tf_config(_env(nodes=3, **{jc.ADDRESS_MAP_ENV: json.dumps(mapping)}))


@pytest.mark.parametrize("change,match", [
    ({jc.JOBSET_NAME_ENV: ""}, "must be set"),
    ({jc.COMPLETION_INDEX_ENV: "x"}, "JOB_COMPLETION_INDEX: expected an integer"),
    ({jc.NUM_NODES_ENV: "0"}, "at least 1"),
    ({jc.COMPLETION_INDEX_ENV: "3"}, "JOB_COMPLETION_INDEX=3 but"),
])
def test_a_pod_that_is_not_a_jobset_pod_is_refused(change, match):
    with pytest.raises(jc.ClusterEnvError, match=match):
        jc.tf_config(_env(**change))
