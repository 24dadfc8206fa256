//! Label and field selectors of list and watch requests.

use crate::query::Query;
use k1s_api::fieldsel::FieldSelector;
use k1s_api::selector::LabelSelector;
use k1s_api::{ApiError, ApiResult, ResourceInfo};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Filter {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    pub fn from_query(r: &ResourceInfo, q: &Query) -> ApiResult<Filter> {
        let labels = match q.value("labelSelector") {
            Some(s) => Some(LabelSelector::parse(s).map_err(ApiError::bad_request)?),
            None => None,
        };
        let fields = match q.value("fieldSelector") {
            Some(s) => Some(FieldSelector::parse_for(r, s).map_err(ApiError::bad_request)?),
            None => None,
        };
        Ok(Filter {
            labels: labels.filter(|l| !l.is_everything()),
            fields: fields.filter(|f| !f.is_everything()),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    pub fn matches(&self, r: &ResourceInfo, obj: &Value) -> bool {
        self.labels.as_ref().is_none_or(|l| l.matches_object(obj))
            && self.fields.as_ref().is_none_or(|f| f.matches(r, obj))
    }

    /// Matches a stored object's raw JSON; unparsable objects never match.
    pub fn matches_raw(&self, r: &ResourceInfo, raw: &[u8]) -> bool {
        serde_json::from_slice::<Value>(raw).is_ok_and(|v| self.matches(r, &v))
    }
}
