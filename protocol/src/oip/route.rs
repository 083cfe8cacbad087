//! Paths of the OIP v2 REST API.

use super::OipError;

/// A model named in a path, with the version when the path gives one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelRef<'a> {
    pub name: &'a str,
    pub version: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /v2`
    ServerMetadata,
    /// `GET /v2/health/live`
    ServerLive,
    /// `GET /v2/health/ready`
    ServerReady,
    /// `GET /v2/models/{name}[/versions/{v}]`
    ModelMetadata(ModelRef<'a>),
    /// `GET /v2/models/{name}[/versions/{v}]/ready`
    ModelReady(ModelRef<'a>),
    /// `POST /v2/models/{name}[/versions/{v}]/infer`
    Infer(ModelRef<'a>),
}

impl Route<'_> {
    /// The model the route is about, if any.
    pub fn model(&self) -> Option<ModelRef<'_>> {
        match self {
            Route::ModelMetadata(m) | Route::ModelReady(m) | Route::Infer(m) => Some(*m),
            _ => None,
        }
    }
}

/// Maps a request line to a route. `path` may carry a query string (ignored). Unknown paths
/// are 404; a known path with the wrong method is 405.
pub fn route<'a>(method: &str, path: &'a str) -> Result<Route<'a>, OipError> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let trimmed = path.trim_end_matches('/');
    let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
    let (route, allowed) = match segments.as_slice() {
        ["v2"] => (Route::ServerMetadata, "GET"),
        ["v2", "health", "live"] => (Route::ServerLive, "GET"),
        ["v2", "health", "ready"] => (Route::ServerReady, "GET"),
        ["v2", "models", name, rest @ ..] if !name.is_empty() => {
            let (version, rest) = match rest {
                ["versions", v, rest @ ..] if !v.is_empty() => (Some(*v), rest),
                _ => (None, rest),
            };
            let model = ModelRef { name, version };
            match rest {
                [] => (Route::ModelMetadata(model), "GET"),
                ["ready"] => (Route::ModelReady(model), "GET"),
                ["infer"] => (Route::Infer(model), "POST"),
                _ => return Err(no_route(path)),
            }
        }
        _ => return Err(no_route(path)),
    };
    if !method.eq_ignore_ascii_case(allowed) {
        return Err(OipError::new(
            405,
            format!("method {method} is not allowed on {path}; use {allowed}"),
        ));
    }
    Ok(route)
}

fn no_route(path: &str) -> OipError {
    OipError::not_found(format!(
        "no such endpoint: {path} (the API is /v2, /v2/health/{{live,ready}}, \
         /v2/models/{{name}}[/versions/{{version}}][/ready|/infer])"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model<'a>(name: &'a str, version: Option<&'a str>) -> ModelRef<'a> {
        ModelRef { name, version }
    }

    #[test]
    fn routes() {
        assert_eq!(route("GET", "/v2"), Ok(Route::ServerMetadata));
        assert_eq!(route("GET", "/v2/"), Ok(Route::ServerMetadata));
        assert_eq!(route("get", "/v2/health/live"), Ok(Route::ServerLive));
        assert_eq!(route("GET", "/v2/health/ready?x=1"), Ok(Route::ServerReady));
        assert_eq!(
            route("GET", "/v2/models/cls"),
            Ok(Route::ModelMetadata(model("cls", None)))
        );
        assert_eq!(
            route("GET", "/v2/models/cls/versions/2/ready"),
            Ok(Route::ModelReady(model("cls", Some("2"))))
        );
        assert_eq!(
            route("POST", "/v2/models/cls/versions/2/infer"),
            Ok(Route::Infer(model("cls", Some("2"))))
        );
        assert_eq!(
            route("POST", "/v2/models/cls/infer"),
            Ok(Route::Infer(model("cls", None)))
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            route("GET", "/v2/models/cls/infer").unwrap_err().status,
            405
        );
        assert_eq!(route("DELETE", "/v2").unwrap_err().status, 405);
        assert_eq!(route("GET", "/v1/models").unwrap_err().status, 404);
        assert_eq!(route("GET", "/v2/models/").unwrap_err().status, 404);
        assert_eq!(
            route("POST", "/v2/models/cls/predict").unwrap_err().status,
            404
        );
        assert_eq!(route("GET", "/").unwrap_err().status, 404);
    }
}
