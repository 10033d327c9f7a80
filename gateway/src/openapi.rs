//! The OpenAPI 3.1 document of the gateway's public and admin APIs, made from the code with
//! `utoipa`: the schemas are the API types themselves (`ToSchema` on the `wire` types), and each
//! route is described once, beside the others of its listener, with the path constants its
//! router matches on.
//!
//! - [`public`] — the public listener's routes (`crate::app::public`).
//! - [`admin`] — the admin listener's: probes, metrics, this document, and the operators' API
//!   under `/admin/v1` (`crate::admin`, `crate::admin::api`).
//! - [`commitments`] — the commitments (告知承诺): the service window's filing and the
//!   operators' post-check queues.
//! - [`answers`] — the problem answers many routes share.
//!
//! The document is made once per process ([`json`]), served at `GET /openapi.json` on the admin
//! listener, printed by `gateway openapi`, and checked in as `docs/openapi.json`; a test fails
//! when the served document and the checked-in copy differ ([`REGENERATE`] says how to make
//! the copy anew). The problem body's `code` lists every machine code the gateway answers
//! with ([`problem_codes`]), so a client can match on them knowing the whole set.

pub mod admin;
pub mod answers;
pub mod commitments;
pub mod public;

use std::sync::LazyLock;

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi};
use wire::admin_api::{required_role, ADMIN_PREFIX};

use crate::admin::readiness::ReadyState;
use crate::error::Failure;

/// Where the admin listener serves the document.
pub const PATH: &str = "/openapi.json";

/// The command that writes the checked-in copy anew, from the repository's root.
pub const REGENERATE: &str = "cargo run -p gateway -- openapi > docs/openapi.json";

/// The name of the problem body's schema (`wire::problem::Problem`).
const PROBLEM_SCHEMA: &str = "Problem";

/// The document, pretty-printed with a final newline: made on first use, then shared.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut json = ApiDocument::openapi()
        .to_pretty_json()
        .expect("the API document serialises");
    json.push('\n');
    json
});

/// The API document as JSON, made once per process.
pub fn json() -> &'static str {
    &DOCUMENT
}

/// Every machine code a gateway problem can carry, sorted: each [`Failure`]'s, including every
/// code error of a holder code (`code.*`), and `/readyz`'s refusals.
pub fn problem_codes() -> Vec<&'static str> {
    let mut codes = Failure::codes();
    codes.extend(
        ReadyState::ALL
            .into_iter()
            .filter_map(ReadyState::refusal)
            .map(|(code, _)| code),
    );
    codes.sort_unstable();
    codes.dedup();
    codes
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mianzheng gateway",
        description = "Venues verify holders' codes on the public listener (`/v1/…`); departments \
                       push record changes there; holders see who checked them and file \
                       objections. Operators use the admin listener (`/admin/v1/…`, beside \
                       `/livez`, `/readyz`, `/metrics` and this document). Every refusal is an \
                       RFC 9457 `application/problem+json` body with a stable machine `code` and \
                       the request id, also sent as `x-request-id`; a known path asked with \
                       another method is answered 405 `request.method_not_allowed` with \
                       `Allow`, an unknown one 404 `request.not_found`."
    ),
    paths(
        public::verify,
        public::issuer_event,
        public::file_objection,
        public::holder_accesses,
        public::materials,
        admin::livez,
        admin::readyz,
        admin::metrics,
        admin::openapi,
        admin::snapshot,
        admin::whoami,
        admin::list_objections,
        admin::objection_detail,
        admin::claim_objection,
        admin::act_on_objection,
        commitments::file_commitment,
        commitments::list_commitments,
        commitments::commitment_counts,
        commitments::commitment_detail,
        commitments::claim_commitment,
        commitments::act_on_commitment,
        admin::recent_audit,
        admin::audit_by_verification,
        admin::list_venues,
        admin::register_venue,
        admin::delete_venue,
        admin::rotate_venue_key,
        admin::disable_venue,
        admin::enable_venue,
        admin::bind_venue_certificate,
        admin::unbind_venue_certificate,
        admin::reload_rollout,
        admin::kpis,
        admin::list_operators,
        admin::add_operator,
        admin::disable_operator,
    ),
    components(responses(
        answers::BodyTimeout,
        answers::BodyTooLarge,
        answers::NotJson,
        answers::Internal,
        answers::AdminUnauthorized,
        answers::AdminForbidden,
        answers::StoreUnavailable,
    )),
    modifiers(&SecuritySchemes, &ProblemCodes, &RolesNeeded),
    tags(
        (name = "verify", description = "Venues verify a holder's code"),
        (name = "objections", description = "\"The record is wrong\": filed by venues and holders, handled by operators"),
        (name = "holder", description = "A holder with a fresh code of their own"),
        (name = "service-window", description = "免证办: a service window pulls a service item's materials with the applicant's code"),
        (name = "departments", description = "Department backends push record changes"),
        (name = "probes", description = "Liveness, readiness, metrics, this document (admin listener, no token)"),
        (name = "admin", description = "The operators' API (admin listener)"),
    )
)]
struct ApiDocument;

/// How callers prove who they are, by the names the routes' `security` uses.
#[derive(Debug)]
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, document: &mut Document) {
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        let schemes = [
            (
                "venue_key",
                bearer("The venue's key, shown once when the venue was registered."),
            ),
            (
                "venue_certificate",
                SecurityScheme::MutualTls {
                    description: Some(
                        "A client certificate from the venues' CA naming the venue (required \
                         with every request of a venue bound to its certificate)."
                            .into(),
                    ),
                    extensions: None,
                },
            ),
            (
                "holder_code",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "Authorization",
                    "`Holder <code>`: a fresh code of the holder's own (made for the holder's \
                     access); it works once.",
                ))),
            ),
            (
                "department_token",
                bearer("The department's own token (the gateway keeps its SHA-256)."),
            ),
            (
                "operator_token",
                bearer("A named operator's token, shown once when the operator was added."),
            ),
            (
                "bootstrap_token",
                bearer(
                    "The bootstrap secret (`admin.token`): creates the first operator, and \
                     nothing else.",
                ),
            ),
        ];
        let components = document.components.get_or_insert_with(Default::default);
        for (name, scheme) in schemes {
            components.add_security_scheme(name, scheme);
        }
    }
}

/// Gives the problem body's `code` the list of every code ([`problem_codes`]).
#[derive(Debug)]
struct ProblemCodes;

impl Modify for ProblemCodes {
    fn modify(&self, document: &mut Document) {
        let problem = document
            .components
            .as_mut()
            .and_then(|components| components.schemas.get_mut(PROBLEM_SCHEMA));
        let Some(RefOr::T(Schema::Object(problem))) = problem else {
            panic!("the `{PROBLEM_SCHEMA}` schema is an object in the document's components");
        };
        let code = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "The stable machine code; clients may match on it. Each names the problem `type` \
                 too (`urn:mianzheng:problem:<code>`).",
            ))
            .enum_values(Some(problem_codes()))
            .build();
        problem.properties.insert("code".into(), code.into());
    }
}

/// Says in each admin route's description which role it needs, from the table the gateway
/// enforces ([`wire::admin_api::ROUTE_ROLES`]).
#[derive(Debug)]
struct RolesNeeded;

impl Modify for RolesNeeded {
    fn modify(&self, document: &mut Document) {
        for (path, item) in document.paths.paths.iter_mut() {
            let Some(route) = path.strip_prefix(ADMIN_PREFIX) else {
                continue;
            };
            for (method, operation) in operations(item) {
                let Some(role) = required_role(method, route) else {
                    continue;
                };
                let description = operation.description.get_or_insert_with(String::new);
                if !description.is_empty() {
                    description.push_str("\n\n");
                }
                description.push_str(&format!("Needs the `{role}` role."));
            }
        }
    }
}

/// The operations of a path, each with its method as the router names it.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut utoipa::openapi::path::Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("POST", item.post.as_mut()),
        ("PUT", item.put.as_mut()),
        ("PATCH", item.patch.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("HEAD", item.head.as_mut()),
        ("OPTIONS", item.options.as_mut()),
        ("TRACE", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|o| (method, o)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;
    use wire::admin_api::ROUTE_ROLES;

    use super::*;

    fn document() -> Value {
        serde_json::from_str(json()).expect("the document is JSON")
    }

    fn operations(document: &Value) -> Vec<(String, String, &Value)> {
        let paths = document["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                let item = item.as_object().expect("a path item");
                item.iter()
                    .map(move |(method, op)| (method.to_uppercase(), path.clone(), op))
            })
            .collect()
    }

    #[test]
    fn it_is_openapi_3_1_pretty_with_a_final_newline() {
        let document = document();
        assert!(
            document["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1.")),
            "{}",
            document["openapi"]
        );
        assert!(json().starts_with("{\n  \"openapi\""));
        assert!(json().ends_with("}\n"));
    }

    #[test]
    fn the_problem_code_lists_every_code_and_nothing_else() {
        let document = document();
        let listed: Vec<&str> = document["components"]["schemas"][PROBLEM_SCHEMA]["properties"]
            ["code"]["enum"]
            .as_array()
            .expect("an enum of codes")
            .iter()
            .map(|c| c.as_str().expect("a code"))
            .collect();
        assert_eq!(listed, problem_codes());
        for failure in Failure::one_of_each() {
            assert!(listed.contains(&failure.code()), "{failure:?}");
        }
        for error in wire::code::CodeError::one_of_each() {
            assert!(listed.contains(&error.code()), "{error:?}");
        }
        assert!(listed.contains(&"admin.starting") && listed.contains(&"admin.draining"));
    }

    #[test]
    fn the_admin_routes_are_the_ones_the_gateway_enforces() {
        let document = document();
        let documented: BTreeSet<(String, String)> = operations(&document)
            .into_iter()
            .filter_map(|(method, path, _)| {
                let route = path.strip_prefix(ADMIN_PREFIX)?.to_owned();
                Some((method, route))
            })
            .collect();
        let enforced: BTreeSet<(String, String)> = ROUTE_ROLES
            .iter()
            .map(|(method, path, _)| (method.to_string(), path.to_string()))
            .collect();
        assert_eq!(documented, enforced);
        for (method, path, operation) in operations(&document) {
            let Some(route) = path.strip_prefix(ADMIN_PREFIX) else {
                continue;
            };
            let role = required_role(&method, route).expect("a route of the table");
            let description = operation["description"].as_str().unwrap_or_default();
            assert!(
                description.ends_with(&format!("Needs the `{role}` role.")),
                "{method} {path}: {description}"
            );
            assert!(
                operation["security"].is_array(),
                "{method} {path} names its token"
            );
        }
    }

    #[test]
    fn the_listeners_other_routes_are_documented() {
        let document = document();
        let documented: BTreeSet<(String, String)> = operations(&document)
            .into_iter()
            .filter(|(_, path, _)| !path.starts_with(ADMIN_PREFIX))
            .map(|(method, path, _)| (method, path))
            .collect();
        let expected: BTreeSet<(String, String)> = [
            ("POST", wire::api::VERIFY_PATH),
            ("POST", wire::issuer_api::EVENTS_PATH),
            ("POST", wire::api::OBJECTIONS_PATH),
            ("POST", wire::materials_api::MATERIALS_PATH),
            ("POST", wire::materials_api::COMMITMENTS_PATH),
            ("GET", wire::api::HOLDER_ACCESSES_PATH),
            ("GET", "/livez"),
            ("GET", "/readyz"),
            ("GET", "/metrics"),
            ("GET", PATH),
        ]
        .into_iter()
        .map(|(method, path)| (method.to_owned(), path.to_owned()))
        .collect();
        assert_eq!(documented, expected);
    }

    /// Every refusal is a problem body, and every code a route's answer names is one the
    /// gateway has (a typo would send a client matching on a code that never comes).
    #[test]
    fn problem_answers_use_the_problem_schema_and_name_real_codes() {
        let document = document();
        let codes = problem_codes();
        let families: BTreeSet<&str> = codes
            .iter()
            .filter_map(|c| c.split_once('.').map(|(family, _)| family))
            .collect();
        let shared = &document["components"]["responses"];
        for (method, path, operation) in operations(&document) {
            let responses = operation["responses"].as_object().expect("responses");
            for (status, answer) in responses {
                let answer = match answer["$ref"].as_str() {
                    Some(reference) => {
                        let name = reference
                            .strip_prefix("#/components/responses/")
                            .expect("a shared response");
                        &shared[name]
                    }
                    None => answer,
                };
                let description = answer["description"].as_str().unwrap_or_default();
                let plain = |s: &str| {
                    s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                };
                let named = description.split('`').skip(1).step_by(2).filter(|word| {
                    word.split_once('.')
                        .is_some_and(|(family, name)| families.contains(family) && plain(name))
                });
                for code in named {
                    assert!(
                        codes.contains(&code),
                        "{method} {path} {status}: `{code}` is no code"
                    );
                }
                if status.starts_with('4') || status.starts_with('5') {
                    let content = &answer["content"];
                    let problem = &content[wire::problem::PROBLEM_CONTENT_TYPE]["schema"]["$ref"];
                    assert_eq!(
                        problem.as_str(),
                        Some("#/components/schemas/Problem"),
                        "{method} {path} {status}: {content}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_reference_has_its_target() {
        fn references<'v>(value: &'v Value, found: &mut Vec<&'v str>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        found.push(target);
                    }
                    map.values().for_each(|v| references(v, found));
                }
                Value::Array(items) => items.iter().for_each(|v| references(v, found)),
                _ => {}
            }
        }
        let document = document();
        let mut found = Vec::new();
        references(&document, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let pointer = target.strip_prefix('#').expect("a local reference");
            assert!(document.pointer(pointer).is_some(), "`{target}` is missing");
        }
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("schemas");
        assert!(
            !schemas.contains_key("String"),
            "a type alias of String is a string"
        );
    }

    /// The examples in the schemas are bodies the gateway accepts (the README shows them too).
    #[test]
    fn the_request_examples_parse_as_their_types() {
        fn parses<T: serde::de::DeserializeOwned>(document: &Value, schema: &str) {
            let examples = document["components"]["schemas"][schema]["examples"]
                .as_array()
                .unwrap_or_else(|| panic!("{schema} has examples"));
            for example in examples {
                if let Err(e) = serde_json::from_value::<T>(example.clone()) {
                    panic!("{schema} example {example}: {e}");
                }
            }
        }
        let document = document();
        parses::<wire::api::VerifyRequest>(&document, "VerifyRequest");
        parses::<wire::api::ObjectionFiling>(&document, "ObjectionFiling");
        parses::<wire::issuer_api::IssuerEvent>(&document, "IssuerEvent");
        parses::<wire::admin_api::VenueRegistration>(&document, "VenueRegistration");

        // And they name what the catalogue has.
        let catalogue = wire::catalogue::Catalogue::embedded();
        let examples = |schema: &str| {
            document["components"]["schemas"][schema]["examples"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        };
        for example in examples("VenueRegistration") {
            let registration = serde_json::from_value(example.clone()).expect("parsed above");
            let problems = crate::venues::registration_problems(&catalogue, &registration);
            assert!(problems.is_empty(), "{example}: {problems:?}");
        }
        for example in examples("ObjectionFiling") {
            let filing: wire::api::ObjectionFiling =
                serde_json::from_value(example.clone()).expect("parsed above");
            assert!(
                filing.channel.parse::<store::Channel>().is_ok(),
                "{example}"
            );
            if let Some(certificate) = &filing.certificate {
                assert!(catalogue.certificate(certificate).is_some(), "{example}");
            }
        }
        for example in examples("IssuerEvent") {
            let event: wire::issuer_api::IssuerEvent =
                serde_json::from_value(example.clone()).expect("parsed above");
            let issuer = catalogue
                .certificate(&event.certificate)
                .and_then(|c| c.departments.first());
            assert_eq!(issuer, Some(&event.department), "{example}");
        }
        parses::<wire::admin_api::OperatorRegistration>(&document, "OperatorRegistration");
        parses::<wire::admin_api::ClaimRequest>(&document, "ClaimRequest");
        parses::<wire::admin_api::ObjectionAction>(&document, "ObjectionAction");
        parses::<wire::admin_api::CommitmentAction>(&document, "CommitmentAction");
        parses::<wire::materials_api::CommitmentFiling>(&document, "CommitmentFiling");
    }
}
