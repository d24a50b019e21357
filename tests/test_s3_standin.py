"""The S3 stand-in starts empty: moto keeps its store per process, and test modules that
share a pytest-xdist worker must not see each other's buckets."""
from tests.s3_standin import s3_server


def test_a_new_server_does_not_see_an_earlier_ones_objects():
    with s3_server() as first:
        first.bucket("models")
        first.put("s3://models/serving/m/1/saved_model.pb", b"x")
        assert first.keys("s3://models/") == ["serving/m/1/saved_model.pb"]
    with s3_server() as second:
        second.bucket("models")
        assert second.keys("s3://models/") == []
