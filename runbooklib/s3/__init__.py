"""S3 checks for a registry on the s3 driver: permissions and region, empty-name tag markers (with a safe
plan-then-apply cleanup), bucket metrics, S3 Inventory as the scale path, and the large-push chunksize.

Every client is bounded (timeouts, retries with backoff) and counted (``target.counter``); every failure
becomes a finding that names the cause.
"""

from .chunksize import check_broken_pushes, check_chunksize
from .client import (
    RequestCounter,
    S3Settings,
    S3Target,
    connect,
    connect_registry_s3,
    connect_s3,
    settings_from_params,
    settings_from_registry,
)
from .errors import S3Failure, classify
from .inventory import Inventory, InventoryError, read_inventory, write_inventory
from .inventory_db import InventoryResults, read_results, run_inventory
from .inventory_sql import EngineTable, Layout, engine_table, program
from .markers import (
    CleanupAudit,
    CleanupRefused,
    MarkerPlan,
    MarkerScan,
    apply_marker_cleanup,
    check_empty_tags,
    check_marker_cleanup,
    check_markers,
    find_markers,
    plan_marker_cleanup,
    scan_markers,
)
from .metrics import (
    BucketMetrics,
    bucket_metrics,
    check_blobs,
    check_repositories,
    check_scan_cost,
    check_uploads,
    top_repositories,
)
from .metrics_plots import plot_blob_sizes, plot_bytes_by_repository, plot_upload_ages
from .multipart import MultipartScan, check_cloudwatch, check_multipart, scan_multipart
from .permissions import (
    PermissionReport,
    check_credentials,
    check_permissions,
    check_region,
    check_s3_settings,
    probe_permissions,
    registry_policy,
)
from ..probes.registry_tags import RegistryTags, registry_tags

__all__ = [
    "S3Settings", "S3Target", "RequestCounter", "connect", "connect_s3", "connect_registry_s3",
    "settings_from_params", "settings_from_registry", "S3Failure", "classify",
    "check_s3_settings", "check_credentials", "check_region", "probe_permissions", "check_permissions",
    "PermissionReport", "registry_policy",
    "MarkerScan", "find_markers", "scan_markers", "check_markers", "check_empty_tags", "MarkerPlan",
    "plan_marker_cleanup", "apply_marker_cleanup", "check_marker_cleanup", "CleanupAudit", "CleanupRefused",
    "RegistryTags", "registry_tags",
    "BucketMetrics", "bucket_metrics", "check_blobs", "check_repositories", "check_uploads", "top_repositories",
    "MultipartScan", "scan_multipart", "check_multipart", "check_cloudwatch", "check_scan_cost",
    "plot_blob_sizes", "plot_bytes_by_repository", "plot_upload_ages",
    "Inventory", "InventoryError", "read_inventory", "write_inventory",
    "InventoryResults", "run_inventory", "read_results", "EngineTable", "Layout", "engine_table", "program",
    "check_chunksize", "check_broken_pushes",
]
