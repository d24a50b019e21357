"""Everything about the model server (TF Serving) in one place, for whoever needs it.

- `warmup`: warm-up request records stamped into exported models;
- `model_config`: TF Serving's `models.config`, batching and monitoring files;
- `client`: REST and gRPC prediction clients;
- `model_sync`: mirrors an s3:// model repository into the folder TF Serving reads.
"""
