"""The parallel augment pipeline: chunks of keys masked across worker processes (joblib, or a
Dask cluster), written as parts and joined in key order into a byte-identical twin; resumable
and shardable (SLURM arrays + ``maskgen merge``)."""

from maskgen.pipeline.report import Counts, RunReport
from maskgen.pipeline.run import augment_dataset, merge_shards
from maskgen.pipeline.step import mask_sample

__all__ = ["Counts", "RunReport", "augment_dataset", "mask_sample", "merge_shards"]
