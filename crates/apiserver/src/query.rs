//! Query parameters of resource requests.

use crate::api::{DeleteOptions, FieldValidation, WriteOptions};
use k1s_api::ApiError;
use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// Present and not empty.
    pub fn value(&self, k: &str) -> Option<&str> {
        self.get(k).filter(|v| !v.is_empty())
    }

    /// Go's strconv.ParseBool as used for `watch`, `pretty`, `allowWatchBookmarks`.
    pub fn flag(&self, k: &str) -> bool {
        matches!(
            self.get(k),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        )
    }

    pub fn number<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>, ApiError> {
        match self.value(k) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v:?}"))),
        }
    }

    pub fn write_options(
        &self,
        user_agent: &str,
        default_validation: FieldValidation,
    ) -> Result<WriteOptions, ApiError> {
        Ok(WriteOptions {
            dry_run: self.dry_run()?,
            field_manager: match self.value("fieldManager") {
                Some(m) => m.to_string(),
                None => manager_from_user_agent(user_agent),
            },
            field_validation: match self.value("fieldValidation") {
                Some(v) => FieldValidation::parse(v)?,
                None => default_validation,
            },
            managed_by_apply: false,
        })
    }

    fn dry_run(&self) -> Result<bool, ApiError> {
        match self.value("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid dry run value: {other}; the only supported value is All"
            ))),
        }
    }

    /// Delete options from the query (the body, when present, is merged by the caller).
    pub fn delete_options(&self) -> Result<DeleteOptions, ApiError> {
        Ok(DeleteOptions {
            dry_run: self.dry_run()?,
            grace_period_seconds: self.number("gracePeriodSeconds")?,
            propagation_policy: self.value("propagationPolicy").map(String::from),
            precondition_uid: None,
            precondition_rv: None,
        })
    }
}

/// kube-apiserver names the field manager after the client's user agent
/// (`kubectl/v1.32.4 (linux/amd64) kubernetes/abc` → `kubectl`), cut at the
/// first `/`, at most 128 characters.
pub fn manager_from_user_agent(ua: &str) -> String {
    let name = ua.split('/').next().unwrap_or("").trim();
    let mut name: String = name.chars().take(128).collect();
    if name.is_empty() {
        name = "unknown".into();
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flags_and_numbers() {
        let q = Query::parse(Some(
            "watch=1&limit=500&labelSelector=app%3Dweb&pretty=false",
        ));
        assert!(q.flag("watch"));
        assert!(!q.flag("pretty"));
        assert_eq!(q.number::<i64>("limit").unwrap(), Some(500));
        assert_eq!(q.get("labelSelector"), Some("app=web"));
        assert!(Query::parse(Some("limit=x"))
            .number::<i64>("limit")
            .is_err());
    }

    #[test]
    fn manager_comes_from_user_agent() {
        assert_eq!(
            manager_from_user_agent(
                "kubectl-client-side-apply/v1.32.4 (linux/amd64) kubernetes/abc"
            ),
            "kubectl-client-side-apply"
        );
        assert_eq!(manager_from_user_agent(""), "unknown");
    }

    #[test]
    fn dry_run_only_accepts_all() {
        assert!(
            Query::parse(Some("dryRun=All"))
                .write_options("x", FieldValidation::Warn)
                .unwrap()
                .dry_run
        );
        assert_eq!(
            Query::parse(Some("dryRun=Some"))
                .write_options("x", FieldValidation::Warn)
                .unwrap_err()
                .code,
            400
        );
    }
}
