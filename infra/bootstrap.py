#!/usr/bin/env python3
"""Create the template's table, queues, buckets, schedule groups and SES sender on the local emulators.

Reads ../template.yaml, so the local stack is built from the same definitions
that are deployed:

* the `AWS::DynamoDB::Table` named `Table` -> table `$TABLE_NAME` (default
  `tickets`) on DynamoDB Local, with its keys, indexes, billing mode and TTL
  (point-in-time recovery and deletion protection are the deployed table's);
* every `AWS::SQS::Queue` -> a moto queue named after its logical id in
  kebab-case (`HoldExpiryQueue` -> `hold-expiry-queue`), attributes and
  redrive policy included (queues referenced by others are created first);
* every `AWS::S3::Bucket` -> a moto bucket named the same way, with its public
  access block and default encryption;
* every `AWS::Scheduler::ScheduleGroup` -> a moto schedule group named the
  same way (`PublishScheduleGroup` -> `publish-schedule-group`);
* the SES sender `$MAIL_FROM` (default `no-reply@tickets.local`) is verified.

Idempotent: a second run against a bootstrapped emulator changes nothing.
`--env-file PATH` writes shell-sourceable lines (TABLE_NAME, <QUEUE>_URL,
<BUCKET>, <SCHEDULE_GROUP>, MAIL_FROM) for the scripts that start the app.

Refuses to run unless AWS_ENDPOINT_URL (moto) and AWS_ENDPOINT_URL_DYNAMODB
(DynamoDB Local) are set, so it can never touch a real AWS account.
Run it with the project venv's python (infra/lib.sh does).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
TABLE_LOGICAL_ID = "Table"


# --- template loading -------------------------------------------------------


class TemplateLoader(yaml.SafeLoader):
    """A safe loader that turns CloudFormation short tags into plain values.

    `!Ref X` -> {"Ref": "X"}, `!GetAtt A.B` -> {"Fn::GetAtt": ["A", "B"]},
    `!Sub ...` -> {"Fn::Sub": ...}, and so on for every `!Tag`.
    """


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


TemplateLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        template = yaml.load(f, Loader=TemplateLoader)  # noqa: S506 (safe loader subclass)
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise SystemExit(f"{path}: not a CloudFormation template (no Resources)")
    return template


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    # An `Fn::ForEach::<name>` entry is a list, not a resource: the template
    # generates only alarms that way, none of which exist locally.
    return {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in template["Resources"].items()
        if isinstance(resource, dict) and resource.get("Type") == kind
    }


def kebab(logical_id: str) -> str:
    """HoldExpiryDeadLetterQueue -> hold-expiry-dead-letter-queue."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1-\2", logical_id)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", s)
    return s.lower()


def env_key(logical_id: str) -> str:
    """HoldExpiryQueue -> HOLD_EXPIRY_QUEUE."""
    return kebab(logical_id).replace("-", "_").upper()


# --- intrinsic functions (only what local resources need) -------------------


class Unresolved(Exception):
    """A reference to a resource that does not exist locally (yet)."""


def resolve(value: Any, lookup: Callable[[str, str | None], str]) -> Any:
    """Resolve Ref / Fn::GetAtt / Fn::Sub against local resources."""
    if isinstance(value, list):
        return [resolve(v, lookup) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            return lookup(arg, None)
        if key == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return lookup(logical_id, attribute)
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            extra = {k: resolve(v, lookup) for k, v in extra.items()}

            def sub(m: re.Match[str]) -> str:
                name = m.group(1)
                if name in extra:
                    return str(extra[name])
                if "." in name:
                    logical_id, attribute = name.split(".", 1)
                    return lookup(logical_id, attribute)
                return lookup(name, None)

            return re.sub(r"\$\{([^}!]+)\}", sub, text)
        if key.startswith("Fn::") or key == "Condition":
            raise SystemExit(f"bootstrap: intrinsic {key} is not supported locally: {value!r}")
    return {k: resolve(v, lookup) for k, v in value.items()}


# --- AWS clients ---------------------------------------------------------------


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        config=Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"},
        ),
    )


def error_code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


def say(kind: str, name: str, status: str) -> None:
    print(f"  {kind:<9} {name:<34} {status}", flush=True)


# --- DynamoDB ------------------------------------------------------------------


def _keys(schema: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in schema]


def _index_spec(gsi: dict[str, Any], billing_mode: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "IndexName": gsi["IndexName"],
        "KeySchema": gsi["KeySchema"],
        "Projection": {k: v for k, v in gsi["Projection"].items()},
    }
    if billing_mode == "PROVISIONED":
        spec["ProvisionedThroughput"] = gsi["ProvisionedThroughput"]
    return spec


def ensure_table(ddb, name: str, props: dict[str, Any]) -> str:
    """Creates or checks the table; returns its ARN."""
    billing_mode = props.get("BillingMode", "PROVISIONED")
    gsis = props.get("GlobalSecondaryIndexes") or []
    lsis = props.get("LocalSecondaryIndexes") or []
    try:
        table = ddb.describe_table(TableName=name)["Table"]
    except ClientError as e:
        if error_code(e) != "ResourceNotFoundException":
            raise
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": billing_mode,
        }
        if billing_mode == "PROVISIONED":
            request["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        if gsis:
            request["GlobalSecondaryIndexes"] = [_index_spec(g, billing_mode) for g in gsis]
        if lsis:
            request["LocalSecondaryIndexes"] = [
                {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                for i in lsis
            ]
        if props.get("StreamSpecification"):
            request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        ddb.create_table(**request)
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        table = ddb.describe_table(TableName=name)["Table"]
        say("table", name, "created")
    else:
        if _keys(table["KeySchema"]) != _keys(props["KeySchema"]):
            raise SystemExit(
                f"bootstrap: table {name} exists with key schema {_keys(table['KeySchema'])}, "
                f"the template says {_keys(props['KeySchema'])}. DynamoDB Local runs in memory: "
                "stop the emulators (make clean-local) and start again."
            )
        existing = {g["IndexName"]: g for g in table.get("GlobalSecondaryIndexes", [])}
        wanted = {g["IndexName"]: g for g in gsis}
        changed = []
        for index_name, gsi in wanted.items():
            have = existing.get(index_name)
            want_projection = gsi["Projection"].get("ProjectionType", "ALL")
            if have is not None:
                have_projection = have.get("Projection", {}).get("ProjectionType", "ALL")
                if _keys(have["KeySchema"]) != _keys(gsi["KeySchema"]) or have_projection != want_projection:
                    raise SystemExit(
                        f"bootstrap: index {index_name} of table {name} differs from the template. "
                        "DynamoDB Local runs in memory: stop the emulators (make clean-local) and start again."
                    )
                continue
            ddb.update_table(
                TableName=name,
                AttributeDefinitions=props["AttributeDefinitions"],
                GlobalSecondaryIndexUpdates=[{"Create": _index_spec(gsi, billing_mode)}],
            )
            ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
            changed.append(index_name)
        for index_name in existing.keys() - wanted.keys():
            print(f"  warning: table {name} has index {index_name}, which the template does not declare",
                  file=sys.stderr)
        say("table", name, f"added index {', '.join(changed)}" if changed else "exists")

    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled", False) in (True, "true", "True"):
        attribute = ttl["AttributeName"]
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and current.get("AttributeName") == attribute:
            say("ttl", f"{name}.{attribute}", "enabled")
        else:
            if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
                raise SystemExit(
                    f"bootstrap: table {name} has TTL on {current.get('AttributeName')}, the template says "
                    f"{attribute}. Stop the emulators (make clean-local) and start again."
                )
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": attribute, "Enabled": True},
            )
            say("ttl", f"{name}.{attribute}", "enabled now")
    return table["TableArn"]


# --- SQS -----------------------------------------------------------------------

# CloudFormation property -> SQS attribute (same names; JSON-valued ones flagged).
QUEUE_ATTRIBUTES = {
    "ContentBasedDeduplication": False,
    "DeduplicationScope": False,
    "DelaySeconds": False,
    "FifoQueue": False,
    "FifoThroughputLimit": False,
    "KmsDataKeyReusePeriodSeconds": False,
    "KmsMasterKeyId": False,
    "MaximumMessageSize": False,
    "MessageRetentionPeriod": False,
    "ReceiveMessageWaitTimeSeconds": False,
    "RedriveAllowPolicy": True,
    "RedrivePolicy": True,
    "SqsManagedSseEnabled": False,
    "VisibilityTimeout": False,
}
QUEUE_IGNORED = {"QueueName", "Tags"}


def _attr_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_attr(value: Any) -> str:
    if isinstance(value, str):
        value = json.loads(value)
    # SQS stores every value of these documents as given; moto and AWS echo
    # numbers back as numbers, so keep ints as ints.
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _same_attr(name: str, want: str, have: str | None) -> bool:
    if have is None:
        return False
    if QUEUE_ATTRIBUTES.get(name):
        try:
            a, b = json.loads(want), json.loads(have)
        except ValueError:
            return want == have
        norm = lambda d: {k: str(v) for k, v in d.items()}  # noqa: E731 ("5" vs 5)
        return norm(a) == norm(b)
    return want.lower() == have.lower()


def queue_attributes(logical_id: str, props: dict[str, Any], lookup) -> dict[str, str]:
    attributes = {}
    for key, value in props.items():
        if key in QUEUE_IGNORED:
            continue
        if key not in QUEUE_ATTRIBUTES:
            print(f"  note: {logical_id}.{key} is not applied locally", file=sys.stderr)
            continue
        value = resolve(value, lookup)
        attributes[key] = _json_attr(value) if QUEUE_ATTRIBUTES[key] else _attr_string(value)
    return attributes


def queue_order(queues: dict[str, dict[str, Any]]) -> list[str]:
    """Queues that others reference (dead-letter queues) first; template order otherwise."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def refs(value: Any) -> set[str]:
        found: set[str] = set()
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "Ref" and isinstance(v, str):
                    found.add(v)
                elif k == "Fn::GetAtt":
                    found.add(v[0] if isinstance(v, list) else v.split(".", 1)[0])
                elif k == "Fn::Sub":
                    text = v if isinstance(v, str) else v[0]
                    found |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                    found |= refs(v if isinstance(v, str) else v[1])
                else:
                    found |= refs(v)
        elif isinstance(value, list):
            for v in value:
                found |= refs(v)
        return found

    def visit(logical_id: str) -> None:
        if logical_id in ordered:
            return
        if logical_id in visiting:
            raise SystemExit(f"bootstrap: queues reference each other in a cycle at {logical_id}")
        visiting.add(logical_id)
        for dep in sorted(refs(queues[logical_id]) & queues.keys()):
            visit(dep)
        visiting.discard(logical_id)
        ordered.append(logical_id)

    for logical_id in queues:
        visit(logical_id)
    return ordered


def ensure_queue(sqs, name: str, attributes: dict[str, str]) -> str:
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as e:
        if error_code(e) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        say("queue", name, "created")
        return url
    have = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
    differing = {
        k: v for k, v in attributes.items() if k != "FifoQueue" and not _same_attr(k, v, have.get(k))
    }
    if differing:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=differing)
        say("queue", name, f"updated {', '.join(sorted(differing))}")
    else:
        say("queue", name, "exists")
    return url


# --- S3 ------------------------------------------------------------------------

BUCKET_APPLIED = {"PublicAccessBlockConfiguration", "BucketEncryption"}
BUCKET_IGNORED = {"BucketName", "Tags", "OwnershipControls", "VersioningConfiguration", "LifecycleConfiguration"}


def ensure_bucket(s3, logical_id: str, name: str, props: dict[str, Any]) -> None:
    try:
        s3.head_bucket(Bucket=name)
        status = "exists"
    except ClientError as e:
        if error_code(e) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        s3.create_bucket(Bucket=name)  # us-east-1: no LocationConstraint
        status = "created"

    for key in props.keys() - BUCKET_APPLIED - BUCKET_IGNORED:
        print(f"  note: {logical_id}.{key} is not applied locally", file=sys.stderr)

    changed = []
    pab = props.get("PublicAccessBlockConfiguration")
    if pab:
        want = {k: bool(v in (True, "true", "True")) for k, v in pab.items()}
        try:
            have = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except ClientError as e:
            if error_code(e) != "NoSuchPublicAccessBlockConfiguration":
                raise
            have = {}
        if any(have.get(k) != v for k, v in want.items()):
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=want)
            changed.append("public access block")

    encryption = props.get("BucketEncryption")
    if encryption:
        # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
        rules = [
            {("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
             for k, v in rule.items()}
            for rule in encryption["ServerSideEncryptionConfiguration"]
        ]
        try:
            have_rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
        except ClientError as e:
            if error_code(e) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            have_rules = []
        algorithms = lambda rs: [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rs]  # noqa: E731
        if algorithms(have_rules) != algorithms(rules):
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
            changed.append("encryption")

    if status == "exists" and changed:
        status = "updated " + ", ".join(changed)
    say("bucket", name, status)


# --- EventBridge Scheduler ------------------------------------------------------


def ensure_schedule_group(scheduler, logical_id: str, name: str, props: dict[str, Any]) -> None:
    for key in props.keys() - {"Name", "Tags"}:
        print(f"  note: {logical_id}.{key} is not applied locally", file=sys.stderr)
    try:
        scheduler.get_schedule_group(Name=name)
        say("schedules", name, "exists")
    except ClientError as e:
        if error_code(e) != "ResourceNotFoundException":
            raise
        scheduler.create_schedule_group(Name=name)
        say("schedules", name, "created")


# --- SES -----------------------------------------------------------------------


def ensure_sender(ses, address: str) -> None:
    attributes = ses.get_identity_verification_attributes(Identities=[address])["VerificationAttributes"]
    if attributes.get(address, {}).get("VerificationStatus") == "Success":
        say("ses", address, "verified")
        return
    ses.verify_email_identity(EmailAddress=address)
    say("ses", address, "verified now")


# --- main ----------------------------------------------------------------------


def write_env_file(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by infra/bootstrap.py: the local resources. Source it with `set -a`."]
    lines += [f"{key}={shlex.quote(value)}" for key, value in values.items()]
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(f.name, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--env-file", type=Path, help="write KEY=value lines for the created resources here")
    args = parser.parse_args()

    moto = os.environ.get("AWS_ENDPOINT_URL")
    dynamodb = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if not moto or not dynamodb:
        print(
            "bootstrap: set AWS_ENDPOINT_URL (moto) and AWS_ENDPOINT_URL_DYNAMODB (DynamoDB Local); "
            "this script only talks to local emulators",
            file=sys.stderr,
        )
        return 2
    table_name = os.environ.get("TABLE_NAME") or "tickets"
    mail_from = os.environ.get("MAIL_FROM") or "no-reply@tickets.local"

    template = load_template(args.template)
    print(f"bootstrap: {args.template.name} -> DynamoDB Local {dynamodb}, moto {moto}", flush=True)

    env: dict[str, str] = {}
    # Local names and attributes of what has been created, for Ref/GetAtt.
    local: dict[str, dict[str, str]] = {}

    def lookup(logical_id: str, attribute: str | None) -> str:
        if logical_id == "AWS::Region":
            return REGION
        if logical_id == "AWS::AccountId":
            return "123456789012"
        if logical_id == "AWS::Partition":
            return "aws"
        found = local.get(logical_id)
        if found is None:
            raise Unresolved(logical_id)
        key = attribute or "Ref"
        if key not in found:
            raise SystemExit(f"bootstrap: {logical_id}.{attribute} is not available locally")
        return found[key]

    # DynamoDB
    tables = resources_of(template, "AWS::DynamoDB::Table")
    if TABLE_LOGICAL_ID not in tables:
        raise SystemExit(f"bootstrap: template has no AWS::DynamoDB::Table named {TABLE_LOGICAL_ID}")
    for logical_id in tables.keys() - {TABLE_LOGICAL_ID}:
        print(f"  note: table {logical_id} is not created locally (only {TABLE_LOGICAL_ID})", file=sys.stderr)
    ddb = client("dynamodb", dynamodb)
    table_arn = ensure_table(ddb, table_name, tables[TABLE_LOGICAL_ID])
    local[TABLE_LOGICAL_ID] = {"Ref": table_name, "Arn": table_arn}
    env["TABLE_NAME"] = table_name

    # SQS
    queues = resources_of(template, "AWS::SQS::Queue")
    if queues:
        sqs = client("sqs", moto)
        for logical_id in queue_order(queues):
            props = queues[logical_id]
            name = kebab(logical_id)
            if props.get("FifoQueue") in (True, "true"):
                name += ".fifo"
            try:
                attributes = queue_attributes(logical_id, props, lookup)
            except Unresolved as missing:
                raise SystemExit(f"bootstrap: queue {logical_id} refers to {missing}, which is not created locally")
            url = ensure_queue(sqs, name, attributes)
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            local[logical_id] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}
            env[f"{env_key(logical_id)}_URL"] = url

    # S3
    buckets = resources_of(template, "AWS::S3::Bucket")
    if buckets:
        s3 = client("s3", moto)
        for logical_id, props in buckets.items():
            name = kebab(logical_id)
            ensure_bucket(s3, logical_id, name, props)
            local[logical_id] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
            env[env_key(logical_id)] = name

    # EventBridge Scheduler
    groups = resources_of(template, "AWS::Scheduler::ScheduleGroup")
    if groups:
        scheduler = client("scheduler", moto)
        for logical_id, props in groups.items():
            name = kebab(logical_id)
            ensure_schedule_group(scheduler, logical_id, name, props)
            local[logical_id] = {"Ref": name}
            env[env_key(logical_id)] = name

    # SES
    ensure_sender(client("ses", moto), mail_from)
    env["MAIL_FROM"] = mail_from

    if args.env_file:
        write_env_file(args.env_file, env)
        print(f"bootstrap: wrote {args.env_file}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
