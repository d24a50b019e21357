"""Runs a compiled KFP v2 IR file on this machine: a local driver and launcher that follow
the rules of Kubeflow Pipelines 2.17.0's backend (kubeflow/pipelines
`backend/src/v2/driver`, `backend/src/v2/component/launcher_v2.go` and
`backend/src/v2/objectstore`), not Kubeflow.

- dag.py: reads the IR (PipelineSpec and kubernetes PlatformSpec) and orders its tasks;
- driver.py: what the driver does for a container task: resolve its inputs, provision its
  outputs under the pipeline root, build the pod's command line and environment;
- launcher.py: what the launcher does around the user command: default parameters,
  placeholders, the downloads of inputs and uploads of outputs, the executor output
  file, output parameters and the artifacts it records;
- objectstore.py: the backend's objectstore package (bucket config, keys, UploadBlob,
  DownloadBlob) over a boto3 client;
- run.py: walks the DAG, independent tasks at once, each task's command a subprocess.
"""
