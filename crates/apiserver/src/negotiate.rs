//! Content negotiation: what the client accepts (JSON, YAML, Table,
//! PartialObjectMetadata) and how the request body is encoded.

use http::HeaderMap;
use k1s_api::ApiError;
use serde_json::Value;

/// The representation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    Table,
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Metadata,
}

pub const JSON: &str = "application/json";
const YAML: &str = "application/yaml";
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// Picks the first representation in `Accept` that k1s can produce.
pub fn output(headers: &HeaderMap) -> Result<Output, ApiError> {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.trim().is_empty() {
        return Ok(Output::Json);
    }
    for part in accept.split(',') {
        let mut fields = part.split(';').map(str::trim);
        let media = fields.next().unwrap_or("");
        let params: Vec<(&str, &str)> = fields.filter_map(|f| f.split_once('=')).collect();
        let param = |k: &str| params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        match media {
            "application/json" | "*/*" | "application/*" => match param("as") {
                Some("Table") if param("v") == Some("v1") && param("g") == Some("meta.k8s.io") => {
                    return Ok(Output::Table)
                }
                Some("PartialObjectMetadata") | Some("PartialObjectMetadataList")
                    if param("v") == Some("v1") && param("g") == Some("meta.k8s.io") =>
                {
                    return Ok(Output::Metadata)
                }
                // Another version of Table etc.: try the next alternative.
                Some(_) => continue,
                None => return Ok(Output::Json),
            },
            YAML => return Ok(Output::Yaml),
            PROTOBUF => continue,
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable(&[JSON, YAML, PROTOBUF]))
}

/// Decodes a create/update body (JSON or YAML) into a JSON value.
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(JSON);
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/json" | "" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "couldn't get version/kind; json parse error: {}",
                json_error(&e)
            ))
        }),
        "application/yaml" => decode_yaml(body),
        // kubectl's typed clients (kubectl create deployment|service|configmap …) send protobuf.
        PROTOBUF => k1s_protobuf::decode(body).map_err(|e| {
            ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
        }),
        _ => Err(ApiError::unsupported_media_type(
            content_type,
            &[JSON, YAML, PROTOBUF],
        )),
    }
}

pub fn decode_yaml(body: &[u8]) -> Result<Value, ApiError> {
    serde_yaml::from_slice::<Value>(body)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: yaml: {e}")))
}

/// Go's encoding/json words syntax errors like `invalid character 'x'
/// looking for beginning of value`; serde's wording is close enough to be
/// actionable, so keep it but without serde's position suffix duplication.
fn json_error(e: &serde_json::Error) -> String {
    e.to_string()
}

/// Serializes a response body in the requested encoding.
pub fn encode(value: &Value, out: Output, pretty: bool) -> (Vec<u8>, &'static str) {
    match out {
        Output::Yaml => (
            serde_yaml::to_string(value)
                .unwrap_or_default()
                .into_bytes(),
            YAML,
        ),
        _ if pretty => (serde_json::to_vec_pretty(value).unwrap_or_default(), JSON),
        _ => (serde_json::to_vec(value).unwrap_or_default(), JSON),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> Result<Output, ApiError> {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT, v.parse().unwrap());
        output(&h)
    }

    #[test]
    fn understands_kubectl_accept_headers() {
        assert_eq!(
            accept("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json").unwrap(),
            Output::Table
        );
        assert_eq!(
            accept("application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json").unwrap(),
            Output::Json
        );
        assert_eq!(
            accept("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io").unwrap(),
            Output::Metadata
        );
        assert_eq!(
            accept("application/vnd.kubernetes.protobuf, */*").unwrap(),
            Output::Json
        );
        assert_eq!(accept("application/yaml").unwrap(), Output::Yaml);
        assert_eq!(accept("text/html").unwrap_err().code, 406);
    }
}
