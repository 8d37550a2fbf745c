//! EventBridge Scheduler (REST JSON): the permissions of a schedule call.

use serde_json::Value;

use super::{Call, json, percent_decode, query_param};
use crate::locals::{ACCOUNT, REGION};
use crate::policy::Access;

/// EventBridge Scheduler (REST JSON): schedules by group and name; a
/// create or update also passes the target's role to the service.
pub(super) fn accesses(call: &Call) -> Option<Vec<Access>> {
    let segments: Vec<String> = call
        .path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let arn = |rest: &str| format!("arn:aws:scheduler:{REGION}:{ACCOUNT}:{rest}");
    let method = call.method.as_str();
    match (
        segments
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        method,
    ) {
        (["schedules"], "GET") => Some(vec![Access::new("scheduler:ListSchedules", "*")]),
        (["schedule-groups"], "GET") => {
            Some(vec![Access::new("scheduler:ListScheduleGroups", "*")])
        }
        (["schedules", name], _) => {
            let body = json(call);
            let group = body
                .get("GroupName")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| query_param(call.query, "groupName"))
                .unwrap_or_else(|| "default".to_owned());
            let action = match method {
                "POST" => "scheduler:CreateSchedule",
                "PUT" => "scheduler:UpdateSchedule",
                "GET" => "scheduler:GetSchedule",
                "DELETE" => "scheduler:DeleteSchedule",
                _ => return None,
            };
            let mut out = vec![Access::new(
                action,
                arn(&format!("schedule/{group}/{name}")),
            )];
            if let Some(role) = body.pointer("/Target/RoleArn").and_then(Value::as_str) {
                out.push(
                    Access::new("iam:PassRole", role)
                        .with_context("iam:PassedToService", "scheduler.amazonaws.com"),
                );
            }
            Some(out)
        }
        (["schedule-groups", name], _) => {
            let action = match method {
                "POST" => "scheduler:CreateScheduleGroup",
                "GET" => "scheduler:GetScheduleGroup",
                "DELETE" => "scheduler:DeleteScheduleGroup",
                _ => return None,
            };
            Some(vec![Access::new(
                action,
                arn(&format!("schedule-group/{name}")),
            )])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{needs, pair};
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, Method};

    #[test]
    fn a_schedule_create_needs_the_schedule_arn_and_pass_role() {
        let body = serde_json::json!({
            "GroupName": "publish-schedule-group",
            "Target": { "Arn": "arn:aws:lambda:us-east-1:123456789012:function:s", "RoleArn": "arn:aws:iam::123456789012:role/r" },
        });
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let body = body.to_string();
        let call = Call {
            method: &Method::POST,
            path: "/schedules/publish-e1",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        };
        let got = accesses(&call).unwrap();
        assert_eq!(got[0].action, "scheduler:CreateSchedule");
        assert_eq!(
            got[0].resource,
            "arn:aws:scheduler:us-east-1:123456789012:schedule/publish-schedule-group/publish-e1"
        );
        assert_eq!(got[1].action, "iam:PassRole");
        assert_eq!(got[1].resource, "arn:aws:iam::123456789012:role/r");
        assert_eq!(
            got[1].context["iam:PassedToService"],
            "scheduler.amazonaws.com"
        );
    }

    #[test]
    fn a_schedule_delete_takes_its_group_from_the_query() {
        assert_eq!(
            needs(
                "scheduler",
                Method::DELETE,
                "/schedules/publish-e1",
                "groupName=g",
                None,
                Value::Null
            ),
            vec![pair(
                "scheduler:DeleteSchedule",
                "arn:aws:scheduler:us-east-1:123456789012:schedule/g/publish-e1"
            )]
        );
    }
}
