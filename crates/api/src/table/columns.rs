//! Column definitions per resource, in kube-apiserver's order. Priority 1
//! columns are the ones kubectl shows only with `-o wide`.

use super::docs;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// OpenAPI type of the cells: `string`, `integer`, `date`, …
    pub kind: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: u8,
}

impl Column {
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

const fn col(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind: "string",
        format: "",
        description,
        priority: 0,
    }
}

const fn wide(name: &'static str, description: &'static str) -> Column {
    Column {
        priority: 1,
        ..col(name, description)
    }
}

const fn int(name: &'static str, description: &'static str) -> Column {
    Column {
        kind: "integer",
        ..col(name, description)
    }
}

const NAME: Column = Column {
    format: "name",
    ..col("Name", docs::NAME)
};
const AGE: Column = col("Age", docs::CREATION_TIMESTAMP);
const CONTAINERS: Column = wide("Containers", "Names of each container in the template.");
const IMAGES: Column = wide(
    "Images",
    "Images referenced by each container in the template.",
);

pub const POD: &[Column] = &[
    NAME,
    col(
        "Ready",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    col(
        "Status",
        "The aggregate status of the containers in this pod.",
    ),
    col(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide("IP", docs::POD_IP),
    wide("Node", docs::POD_NODE_NAME),
    wide("Nominated Node", docs::POD_NOMINATED_NODE),
    wide("Readiness Gates", docs::POD_READINESS_GATES),
];

pub const SERVICE: &[Column] = &[
    NAME,
    col("Type", docs::SERVICE_TYPE),
    col("Cluster-IP", docs::SERVICE_CLUSTER_IP),
    col("External-IP", docs::SERVICE_EXTERNAL_IPS),
    col("Port(s)", docs::SERVICE_PORTS),
    AGE,
    wide("Selector", docs::SERVICE_SELECTOR),
];

pub const ENDPOINTS: &[Column] = &[NAME, col("Endpoints", docs::ENDPOINTS_SUBSETS), AGE];

pub const ENDPOINT_SLICE: &[Column] = &[
    NAME,
    col("AddressType", docs::SLICE_ADDRESS_TYPE),
    col("Ports", docs::SLICE_PORTS),
    col("Endpoints", docs::SLICE_ENDPOINTS),
    AGE,
];

pub const DEPLOYMENT: &[Column] = &[
    NAME,
    col("Ready", "Number of the pod with ready state"),
    col("Up-to-date", docs::DEPLOYMENT_UPDATED),
    col("Available", docs::DEPLOYMENT_AVAILABLE),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", docs::DEPLOYMENT_SELECTOR),
];

pub const REPLICA_SET: &[Column] = &[
    NAME,
    int("Desired", docs::REPLICA_SET_DESIRED),
    int("Current", docs::REPLICA_SET_CURRENT),
    int("Ready", docs::REPLICA_SET_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", docs::REPLICA_SET_SELECTOR),
];

pub const NAMESPACE: &[Column] = &[NAME, col("Status", "The status of the namespace"), AGE];

pub const NODE: &[Column] = &[
    NAME,
    col("Status", "The status of the node"),
    col("Roles", "The roles of the node"),
    AGE,
    col("Version", docs::NODE_KUBELET_VERSION),
    wide("Internal-IP", docs::NODE_ADDRESSES),
    wide("External-IP", docs::NODE_ADDRESSES),
    wide("OS-Image", docs::NODE_OS_IMAGE),
    wide("Kernel-Version", docs::NODE_KERNEL_VERSION),
    wide("Container-Runtime", docs::NODE_CONTAINER_RUNTIME),
];

pub const EVENT: &[Column] = &[
    col("Last Seen", docs::EVENT_LAST_TIMESTAMP),
    col("Type", docs::EVENT_TYPE),
    col("Reason", docs::EVENT_REASON),
    col("Object", docs::EVENT_INVOLVED_OBJECT),
    wide("Subobject", docs::EVENT_FIELD_PATH),
    wide("Source", docs::EVENT_SOURCE),
    col("Message", docs::EVENT_MESSAGE),
    wide("First Seen", docs::EVENT_FIRST_TIMESTAMP),
    wide("Count", docs::EVENT_COUNT),
    Column {
        priority: 1,
        ..NAME
    },
];

pub const CONFIG_MAP: &[Column] = &[NAME, col("Data", docs::CONFIG_MAP_DATA), AGE];

pub const SECRET: &[Column] = &[
    NAME,
    col("Type", docs::SECRET_TYPE),
    col("Data", docs::SECRET_DATA),
    AGE,
];

pub const SERVICE_ACCOUNT: &[Column] = &[NAME, col("Secrets", docs::SERVICE_ACCOUNT_SECRETS), AGE];

pub const LEASE: &[Column] = &[NAME, col("Holder", docs::LEASE_HOLDER), AGE];

/// The generic convertor's columns for resources without a printer.
pub const DEFAULT: &[Column] = &[
    NAME,
    Column {
        kind: "date",
        ..col("Created At", docs::CREATION_TIMESTAMP)
    },
];
