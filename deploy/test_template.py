"""Checks of deploy/template.yaml: cfn-lint first, then what cfn-lint does not check (it
accepts, for instance, `ReportBatchItemFailurez`, `rate(5 minute)`, an event of
`Type: SQSS` or a misspelt `ScalingConfig` key): the partial batch setting, the schedule
and the sweeper's concurrency and retries, the dead-letter redrive, the visibility
timeout against the consumer's timeout, the index names the code queries, each function's
role (action by action, resource by resource), the tables' protection, the secrets (only
parameter names reach the stack), the log groups, the alarms, and the queue URLs.

Run: python -m unittest deploy/test_template.py (or python deploy/test_template.py)
"""

import itertools
import pathlib
import re
import unittest

from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import cfn_yaml

TEMPLATE = pathlib.Path(__file__).with_name("template.yaml")
FUNCTIONS = {"ApiFunction": "api", "ConsumerFunction": "consumer", "SweeperFunction": "sweeper"}


def idx(table, index):
    return f"{table}/index/{index}"


WORK_QUEUES = {"OrdersQueue", "RefundsQueue", "PaymentsQueue", "NotifyQueue"}
PARAM = "param:"  # an SSM parameter's ARN, named by the template parameter holding its name

# Every action each function's role grants, and on exactly what: a table or queue by its
# logical id, an index as "<table>/index/<name>", a log group, a Parameter Store parameter
# as "param:<template parameter>", a KMS key as "ref:<template parameter>". This is what
# the code calls (crates/aws, crates/lambda), and so all it may do. Conditional grants are
# listed with the conditions under which they appear.
GRANTS = {
    "ApiFunction": {
        "logs:CreateLogStream": {"ApiLogGroup"},
        "logs:PutLogEvents": {"ApiLogGroup"},
        "dynamodb:GetItem": {"OrdersTable", "InventoryTable", "IdempotencyTable"},
        "dynamodb:UpdateItem": {"OrdersTable", "InventoryTable"},
        "dynamodb:PutItem": {"OrdersTable", "IdempotencyTable"},
        "dynamodb:Query": {
            idx("OrdersTable", "byUser"), idx("OrdersTable", "byStatus"),
            idx("OrdersTable", "recent"), idx("OrdersTable", "notifyPending"),
        },
        # Listings read the orders their index names; the catalogue is a scan.
        "dynamodb:BatchGetItem": {"OrdersTable"},
        "dynamodb:Scan": {"InventoryTable"},
        "sqs:SendMessage": WORK_QUEUES,
        # GET /health
        "sqs:GetQueueAttributes": {"OrdersQueue"},
        "ssm:GetParameter": {PARAM + "WebhookSecretParameter", PARAM + "AdminTokenParameter"},
    },
    "ConsumerFunction": {
        "logs:CreateLogStream": {"ConsumerLogGroup"},
        "logs:PutLogEvents": {"ConsumerLogGroup"},
        "dynamodb:GetItem": {"OrdersTable", "InventoryTable"},
        "dynamodb:UpdateItem": {"OrdersTable", "InventoryTable"},
        # The event source mappings, with the function's role.
        "sqs:ReceiveMessage": WORK_QUEUES,
        "sqs:DeleteMessage": WORK_QUEUES,
        "sqs:ChangeMessageVisibility": WORK_QUEUES,
        "sqs:GetQueueAttributes": WORK_QUEUES,
        # Delays beyond SQS's 15 minutes go on as a new payments message.
        "sqs:SendMessage": {"OrdersQueue", "RefundsQueue", "PaymentsQueue", "NotifyQueue"},
    },
    "SweeperFunction": {
        "logs:CreateLogStream": {"SweeperLogGroup"},
        "logs:PutLogEvents": {"SweeperLogGroup"},
        "dynamodb:Query": {
            idx("OrdersTable", "unpaidByExpiry"), idx("OrdersTable", "awaitingMessage"),
            idx("OrdersTable", "notifyPending"),
        },
        "dynamodb:GetItem": {"OrdersTable", "InventoryTable"},
        "dynamodb:UpdateItem": {"OrdersTable", "InventoryTable"},
        "sqs:SendMessage": {"OrdersQueue", "RefundsQueue", "NotifyQueue"},
    },
}


def conditional_grants(fn, notify, custom_key):
    """The grants that depend on the stack's parameters."""
    extra = {}
    secrets = {
        "ApiFunction": {PARAM + "WebhookSecretParameter", PARAM + "AdminTokenParameter"},
        "ConsumerFunction": {PARAM + "NotifySecretParameter"} if notify else set(),
        "SweeperFunction": set(),
    }[fn]
    if fn == "ConsumerFunction" and notify:
        extra["ssm:GetParameter"] = secrets
    if custom_key and secrets:
        extra["kms:Decrypt"] = {"ref:SecretsKmsKeyArn"}
    return extra


# The secrets, each read by one function only, from a parameter named by the stack.
SECRETS = {
    "ApiFunction": {
        "ORDERFLOW_WEBHOOK_SECRET_PARAMETER": "WebhookSecretParameter",
        "ORDERFLOW_ADMIN_TOKEN_PARAMETER": "AdminTokenParameter",
    },
    "ConsumerFunction": {"ORDERFLOW_NOTIFY_SECRET_PARAMETER": "NotifySecretParameter"},
    "SweeperFunction": {},
}
PLAIN_SECRET_VARS = {"ORDERFLOW_WEBHOOK_SECRET", "ORDERFLOW_ADMIN_TOKEN", "ORDERFLOW_NOTIFY_SECRET"}
INDEXES = {"byUser", "byStatus", "recent", "unpaidByExpiry", "awaitingMessage", "notifyPending"}
# What each listing index projects: only what its query reads (an index projecting an
# attribute that every transition changes is written by every transition).
LISTING_PROJECTIONS = {
    "byUser": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["orderStatus"]},
    "byStatus": {"ProjectionType": "KEYS_ONLY"},
    "recent": {"ProjectionType": "KEYS_ONLY"},
}
# Partition keys that are the same for many orders, which no index may use.
LOW_CARDINALITY_KEYS = {"all", "orderStatus", "catalog", "paymentStatus", "refundStatus"}
# Who reads the pending-notifications index (the failed listing, the overdue sweep), and
# who sends to the notify queue (after each event's write, retries, overdue orders).
NOTIFY_INDEX_READERS = {"ApiFunction", "SweeperFunction"}
NOTIFY_SENDERS = {"ApiFunction", "ConsumerFunction", "SweeperFunction"}
# Queues whose messages are delayed by design (up to SQS's 900 s).
DELAYED_QUEUES = {"PaymentsQueue", "NotifyQueue"}
# The names the code derives from the orders queue's (crates/lambda/src/config.rs).
QUEUE_SUFFIXES = {"OrdersQueue": "", "RefundsQueue": "-refunds", "PaymentsQueue": "-payments", "NotifyQueue": "-notify"}
SCHEDULE = re.compile(
    r"^(rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)|cron\(\S+( \S+){5}\))$"
)


def load(text=None):
    return cfn_yaml.loads(text if text is not None else TEMPLATE.read_text())


def resources(t, kind):
    return {k: v for k, v in t["Resources"].items() if v["Type"] == kind}


def props(t, name):
    return t["Resources"][name]["Properties"]


def refs(value):
    """Every resource a value names through Ref, GetAtt or Sub."""
    found = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref":
                found.add(v)
            elif k == "Fn::GetAtt":
                found.add(v[0] if isinstance(v, list) else v.split(".")[0])
            elif k == "Fn::Sub":
                s = v if isinstance(v, str) else v[0]
                found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}]+)\}", s))
            else:
                found |= refs(v)
    elif isinstance(value, list):
        for v in value:
            found |= refs(v)
    return found


NO_VALUE = object()


def resolve(value, conditions):
    """`value` with each Fn::If decided by `conditions` and AWS::NoValue dropped."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            name, yes, no = value["Fn::If"]
            return resolve(yes if conditions[name] else no, conditions)
        if value == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        out = {k: resolve(v, conditions) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}
    if isinstance(value, list):
        return [x for x in (resolve(v, conditions) for v in value) if x is not NO_VALUE]
    return value


def all_conditions():
    """Every combination of the parameters that conditions depend on."""
    for notify, custom_key, alarms in itertools.product([True, False], repeat=3):
        yield {
            "NotifyOn": notify,
            "CustomSecretsKey": custom_key,
            "NotifyWithCustomKey": notify and custom_key,
            "AlarmActionsOn": alarms,
        }


def resource_key(r):
    """A policy resource as GRANTS names it; fails on anything else (a wildcard, say)."""
    assert r != "*" and not (isinstance(r, str) and "*" in r), r
    if isinstance(r, dict) and "Fn::GetAtt" in r:
        target, attr = r["Fn::GetAtt"] if isinstance(r["Fn::GetAtt"], list) else r["Fn::GetAtt"].split(".")
        assert attr == "Arn", r
        return target
    if isinstance(r, dict) and "Ref" in r:
        return "ref:" + r["Ref"]
    if isinstance(r, dict) and "Fn::Sub" in r:
        s = r["Fn::Sub"]
        assert isinstance(s, str) and "*" not in s, r
        m = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/(\w+)", s)
        if m:
            return idx(m[1], m[2])
        m = re.fullmatch(
            r"arn:\$\{AWS::Partition\}:ssm:\$\{AWS::Region\}:\$\{AWS::AccountId\}:parameter\$\{(\w+)\}", s
        )
        if m:
            return PARAM + m[1]
    raise AssertionError(f"unexpected resource {r}")


def role_of(t, fn):
    role = props(t, fn)["Role"]
    assert isinstance(role, dict) and "Fn::GetAtt" in role, (fn, role)
    (name,) = refs(role)
    assert t["Resources"][name]["Type"] == "AWS::IAM::Role", (fn, name)
    return name


def statements(t, fn, conditions):
    role = props(t, role_of(t, fn))
    return [
        s
        for p in resolve(role["Policies"], conditions)
        for s in p["PolicyDocument"]["Statement"]
    ]


def grants(t, fn, conditions):
    """{action: {resource key}} of a function's role."""
    found = {}
    for s in statements(t, fn, conditions):
        assert s["Effect"] == "Allow", (fn, s)
        assert "NotAction" not in s and "NotResource" not in s, (fn, s)
        acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        res = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        for a in acts:
            assert "*" not in a, (fn, a)
            found.setdefault(a, set()).update(resource_key(r) for r in res)
    return found


def check_consumer_events(t):
    events = props(t, "ConsumerFunction")["Events"]
    queues = set()
    for name, e in events.items():
        assert e["Type"] == "SQS", f"{name}: type {e['Type']}"
        assert e["Properties"].get("FunctionResponseTypes") == ["ReportBatchItemFailures"], name
        queues |= refs(e["Properties"]["Queue"])
    assert queues == WORK_QUEUES, queues


def check_schedule(t):
    events = props(t, "SweeperFunction")["Events"]
    (event,) = events.values()
    assert event["Type"] == "Schedule", event["Type"]
    expression = event["Properties"]["Schedule"]
    assert expression == {"Ref": "SweepSchedule"}, expression
    default = t["Parameters"]["SweepSchedule"]["Default"]
    assert SCHEDULE.match(default), default
    assert default == "rate(1 minute)", default


def check_concurrency(t):
    # Each of the consumer's mappings is capped by one parameter.
    param = t["Parameters"]["ConsumerMaxConcurrency"]
    assert param["Type"] == "Number" and int(param["Default"]) == 10, param
    assert 2 <= int(param["MinValue"]) and int(param["MaxValue"]) <= 1000, param
    for name, e in props(t, "ConsumerFunction")["Events"].items():
        scaling = e["Properties"].get("ScalingConfig")
        assert scaling == {"MaximumConcurrency": {"Ref": "ConsumerMaxConcurrency"}}, (name, scaling)
    # One sweep at a time, never retried (the next schedule is the retry).
    sweeper = props(t, "SweeperFunction")
    assert int(sweeper.get("ReservedConcurrentExecutions", 0)) == 1, sweeper.get("ReservedConcurrentExecutions")
    invoke = sweeper.get("EventInvokeConfig", {})
    assert int(invoke.get("MaximumRetryAttempts", -1)) == 0, invoke
    (event,) = sweeper["Events"].values()
    retry = event["Properties"].get("RetryPolicy", {})
    assert int(retry.get("MaximumRetryAttempts", -1)) == 0, retry


def dead_letter_queues(t):
    """Each work queue's dead-letter queue."""
    return {
        name: next(iter(refs(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])))
        for name, q in resources(t, "AWS::SQS::Queue").items()
        if "RedrivePolicy" in q["Properties"]
    }


def check_redrive(t):
    queues = resources(t, "AWS::SQS::Queue")
    dlqs = dead_letter_queues(t)
    assert set(dlqs) == WORK_QUEUES, dlqs.keys()
    assert set(queues) == WORK_QUEUES | set(dlqs.values()), queues.keys()
    for name, dlq in dlqs.items():
        policy = queues[name]["Properties"]["RedrivePolicy"]
        assert dlq in queues and "DeadLetter" in dlq, (name, dlq)
        assert 1 <= int(policy["maxReceiveCount"]) <= 10, (name, policy)


def check_visibility(t):
    timeout = int(props(t, "ConsumerFunction")["Timeout"])
    for name in sorted(WORK_QUEUES):
        visibility = int(props(t, name)["VisibilityTimeout"])
        assert visibility >= 6 * timeout, (name, visibility, timeout)


def check_policies(t):
    for fn in FUNCTIONS:
        f = props(t, fn)
        # No SAM policy templates or managed policies: the role is the function's own.
        assert "Policies" not in f, (fn, "SAM Policies")
        role = props(t, role_of(t, fn))
        assert "ManagedPolicyArns" not in role, (fn, role.get("ManagedPolicyArns"))
        trust = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ], (fn, trust)
        for conditions in all_conditions():
            expected = dict(GRANTS[fn])
            expected.update(conditional_grants(fn, conditions["NotifyOn"], conditions["CustomSecretsKey"]))
            got = grants(t, fn, conditions)
            assert got == expected, (fn, conditions, {
                a: (got.get(a), expected.get(a))
                for a in set(got) | set(expected)
                if got.get(a) != expected.get(a)
            })
    # The KMS grant is only usable through Parameter Store.
    for fn in ("ApiFunction", "ConsumerFunction"):
        for s in statements(t, fn, {"NotifyOn": True, "CustomSecretsKey": True, "NotifyWithCustomKey": True}):
            if "kms:Decrypt" in s["Action"]:
                assert s["Condition"] == {
                    "StringEquals": {"kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}}
                }, (fn, s)
    # No Scan of the orders: every listing and periodic read goes through an index (the
    # inventory, products and their shards, is scanned for the catalogue).
    for fn in GRANTS:
        for s in statements(t, fn, {"NotifyOn": True, "CustomSecretsKey": True, "NotifyWithCustomKey": True}):
            if "dynamodb:Scan" in s["Action"]:
                assert s["Resource"] == [{"Fn::GetAtt": ["InventoryTable", "Arn"]}], (fn, s)


def check_tables(t):
    orders = props(t, "OrdersTable")
    assert {i["IndexName"] for i in orders["GlobalSecondaryIndexes"]} == INDEXES
    for index in orders["GlobalSecondaryIndexes"]:
        name = index["IndexName"]
        hash_key = next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH")
        assert hash_key not in LOW_CARDINALITY_KEYS, (name, hash_key)
        if name in LISTING_PROJECTIONS:
            assert index["Projection"] == LISTING_PROJECTIONS[name], (name, index["Projection"])
    inventory = props(t, "InventoryTable")
    assert "GlobalSecondaryIndexes" not in inventory, inventory.get("GlobalSecondaryIndexes")
    ttl = props(t, "IdempotencyTable")["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "ttl", "Enabled": True}, ttl
    g = t["Globals"]["Function"]
    assert g["Runtime"] == "provided.al2023" and g["Architectures"] == ["arm64"], g


def check_table_protection(t):
    tables = resources(t, "AWS::DynamoDB::Table")
    assert set(tables) == {"OrdersTable", "InventoryTable", "IdempotencyTable"}, tables.keys()
    for name, table in tables.items():
        # The shop's data outlives the stack and any replacing update.
        assert table.get("DeletionPolicy") == "Retain", (name, table.get("DeletionPolicy"))
        assert table.get("UpdateReplacePolicy") == "Retain", (name, table.get("UpdateReplacePolicy"))
        p = table["Properties"]
        assert p.get("DeletionProtectionEnabled") is True, (name, p.get("DeletionProtectionEnabled"))
        pitr = p.get("PointInTimeRecoverySpecification")
        assert pitr == {"PointInTimeRecoveryEnabled": True}, (name, pitr)


def environment(t, fn, conditions):
    env = dict(t["Globals"]["Function"]["Environment"]["Variables"])
    env.update(props(t, fn).get("Environment", {}).get("Variables", {}))
    return resolve(env, conditions)


def check_secrets(t):
    params = t["Parameters"]
    # Secret values never pass through the stack: only parameter names do.
    for name, p in params.items():
        assert not (re.search(r"Secret|Token", name) and not name.endswith(("Parameter", "KmsKeyArn"))), name
    for fn_params in SECRETS.values():
        for param in fn_params.values():
            p = params[param]
            assert "Default" not in p, (param, p["Default"])
            assert int(p.get("MinLength", 0)) >= 2, param
            # A path, so that its ARN is "...:parameter<name>" as the roles write it.
            pattern = re.compile(p["AllowedPattern"])
            assert pattern.match("/orderflow/prod/secret") and not pattern.match("orderflow-secret"), param
            assert not pattern.match(""), param
    for conditions in all_conditions():
        for fn, wanted in SECRETS.items():
            env = environment(t, fn, conditions)
            assert not PLAIN_SECRET_VARS & set(env), (fn, PLAIN_SECRET_VARS & set(env))
            expected = dict(wanted)
            if fn == "ConsumerFunction" and not conditions["NotifyOn"]:
                expected = {}
            got = {k: v for k, v in env.items() if k.endswith("_PARAMETER")}
            assert got == {k: {"Ref": v} for k, v in expected.items()}, (fn, conditions, got)
    key = params["SecretsKmsKeyArn"]
    assert key["Default"] == "" and re.match(key["AllowedPattern"], ""), key
    assert t["Conditions"]["CustomSecretsKey"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SecretsKmsKeyArn"}, ""]}]}


def check_logs(t):
    retention = t["Parameters"]["LogRetentionInDays"]
    assert int(retention["Default"]) == 30, retention
    groups = resources(t, "AWS::Logs::LogGroup")
    assert len(groups) == len(FUNCTIONS), groups.keys()
    for fn, short in FUNCTIONS.items():
        name = f"${{AWS::StackName}}-{short}"
        assert props(t, fn).get("FunctionName") == {"Fn::Sub": name}, (fn, props(t, fn).get("FunctionName"))
        (group,) = [
            g for g, v in groups.items()
            if v["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{name}"}
        ]
        assert props(t, group)["RetentionInDays"] == {"Ref": "LogRetentionInDays"}, group
        # The function writes to its own group, and to no other.
        for conditions in all_conditions():
            got = grants(t, fn, conditions)
            assert got["logs:PutLogEvents"] == {group}, (fn, got["logs:PutLogEvents"])
            assert {a for a in got if a.startswith("logs:")} == {"logs:CreateLogStream", "logs:PutLogEvents"}, fn


def alarm_actions_ok(t, alarm):
    action = {"Fn::If": ["AlarmActionsOn", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    p = alarm["Properties"]
    assert p.get("AlarmActions") == action, p.get("AlarmActions")
    assert t["Conditions"]["AlarmActionsOn"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    assert t["Parameters"]["AlarmTopicArn"]["Default"] == ""


def alarms_on(t, metric):
    """{queue: [alarm properties]} of the SQS alarms on `metric`."""
    found = {}
    for name, a in resources(t, "AWS::CloudWatch::Alarm").items():
        p = a["Properties"]
        if p.get("Namespace") != "AWS/SQS" or p.get("MetricName") != metric:
            continue
        alarm_actions_ok(t, a)
        (dimension,) = p["Dimensions"]
        assert dimension["Name"] == "QueueName", (name, dimension)
        assert dimension["Value"]["Fn::GetAtt"][1] == "QueueName", (name, dimension)
        found.setdefault(dimension["Value"]["Fn::GetAtt"][0], []).append(p)
    return found


def check_alarms(t):
    # Every dead-letter queue: any message visible is an alarm.
    by_queue = alarms_on(t, "ApproximateNumberOfMessagesVisible")
    for work, dlq in dead_letter_queues(t).items():
        assert dlq in by_queue, (dlq, "no alarm")
        assert any(
            float(p["Threshold"]) == 0 and p["ComparisonOperator"] == "GreaterThanThreshold"
            and p["Statistic"] == "Maximum"
            for p in by_queue[dlq]
        ), (dlq, by_queue[dlq])
    # Every work queue: the age of its oldest message, over a threshold parameter.
    by_queue = alarms_on(t, "ApproximateAgeOfOldestMessage")
    assert set(by_queue) == WORK_QUEUES, by_queue.keys()
    for queue, alarms in by_queue.items():
        (p,) = alarms
        assert p["ComparisonOperator"] == "GreaterThanThreshold", (queue, p)
        param = t["Parameters"][p["Threshold"]["Ref"]]
        assert param["Type"] == "Number", (queue, param)
        if queue in DELAYED_QUEUES:
            # Delayed messages (up to 900 s) must not raise it.
            assert int(param["MinValue"]) > 900 and int(param["Default"]) > 900, (queue, param)


def check_queue_urls(t):
    for conditions in all_conditions():
        for fn in FUNCTIONS:
            env = environment(t, fn, conditions)
            assert env.get("ORDERFLOW_QUEUE_URL") == {"Ref": "OrdersQueue"}, (fn, env.get("ORDERFLOW_QUEUE_URL"))
            assert "ORDERFLOW_QUEUE_NAME" not in env, fn
            # URLs are given: no lookup at cold start.
            assert "sqs:GetQueueUrl" not in grants(t, fn, conditions), fn
    # The derived URLs are the orders queue's plus a suffix: the names must follow.
    orders = props(t, "OrdersQueue")["QueueName"]["Fn::Sub"]
    dlqs = dead_letter_queues(t)
    for queue, suffix in QUEUE_SUFFIXES.items():
        assert props(t, queue)["QueueName"] == {"Fn::Sub": orders + suffix}, queue
        assert props(t, dlqs[queue])["QueueName"] == {"Fn::Sub": orders + suffix + "-dlq"}, dlqs[queue]


def check_notifications(t):
    # The secret's parameter: no default (never an empty or well-known signing key).
    secret = t["Parameters"]["NotifySecretParameter"]
    assert "Default" not in secret, secret
    # Every function gets the URL (all write events), only when it is set.
    env = t["Globals"]["Function"]["Environment"]["Variables"]
    assert env["ORDERFLOW_NOTIFY_URL"] == {"Fn::If": ["NotifyOn", {"Ref": "NotifyUrl"}, {"Ref": "AWS::NoValue"}]}, env.get("ORDERFLOW_NOTIFY_URL")
    # The index is sparse and keys only (updates of a pending order cost it nothing).
    (index,) = [
        i for i in props(t, "OrdersTable")["GlobalSecondaryIndexes"] if i["IndexName"] == "notifyPending"
    ]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["notifyShard", "notifyDue"], index
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}, index
    on = {"NotifyOn": True, "CustomSecretsKey": False, "NotifyWithCustomKey": False}
    for fn in FUNCTIONS:
        got = grants(t, fn, on)
        reads = idx("OrdersTable", "notifyPending") in got.get("dynamodb:Query", set())
        assert reads == (fn in NOTIFY_INDEX_READERS), (fn, "query notifyPending", reads)
        sends = "NotifyQueue" in got.get("sqs:SendMessage", set())
        assert sends == (fn in NOTIFY_SENDERS), (fn, "send to NotifyQueue", sends)
        # Only the consumer signs, so only it reads the notify secret.
        signs = PARAM + "NotifySecretParameter" in got.get("ssm:GetParameter", set())
        assert signs == (fn == "ConsumerFunction"), (fn, "reads the notify secret", signs)


CHECKS = [
    check_consumer_events, check_schedule, check_concurrency, check_redrive, check_visibility,
    check_policies, check_tables, check_table_protection, check_secrets, check_logs,
    check_alarms, check_queue_urls, check_notifications,
]


class Template(unittest.TestCase):
    def test_cfn_lint_finds_nothing(self):
        matches = lint_file(TEMPLATE, config=ManualArgs())
        self.assertEqual([str(m) for m in matches], [])

    def test_the_template_passes_every_check(self):
        t = load()
        for check in CHECKS:
            with self.subTest(check.__name__):
                check(t)

    def test_each_check_catches_what_cfn_lint_lets_through(self):
        text = TEMPLATE.read_text()
        api_send = "                  - sqs:SendMessage\n                Resource:\n                  - !GetAtt OrdersQueue.Arn\n                  - !GetAtt RefundsQueue.Arn\n                  - !GetAtt PaymentsQueue.Arn"
        mutations = [
            ("FunctionResponseTypes: [ReportBatchItemFailures]", "FunctionResponseTypes: [ReportBatchItemFailurez]", check_consumer_events),
            ("Type: SQS\n          Properties:\n            Queue: !GetAtt OrdersQueue.Arn", "Type: SQSS\n          Properties:\n            Queue: !GetAtt OrdersQueue.Arn", check_consumer_events),
            ("            Queue: !GetAtt NotifyQueue.Arn", "            Queue: !GetAtt PaymentsQueue.Arn", check_consumer_events),
            ("Default: rate(1 minute)", "Default: rate(1 minutes)", check_schedule),
            ("Default: rate(1 minute)", "Default: rate(5 minutes)", check_schedule),
            ("      VisibilityTimeout: 180\n      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt RefundsDeadLetterQueue.Arn", "      VisibilityTimeout: 60\n      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt RefundsDeadLetterQueue.Arn", check_visibility),
            ("        deadLetterTargetArn: !GetAtt PaymentsDeadLetterQueue.Arn", "        deadLetterTargetArn: !GetAtt OrdersQueue.Arn", check_redrive),
            ("        deadLetterTargetArn: !GetAtt NotifyDeadLetterQueue.Arn\n        maxReceiveCount: 5\n", "        deadLetterTargetArn: !GetAtt NotifyDeadLetterQueue.Arn\n        maxReceiveCount: 50\n", check_redrive),
            # Roles: an extra action, a wildcard, a resource too many, a managed policy,
            # SAM policy templates, a secret granted to a function that does not read it.
            ("                  - dynamodb:Query\n                Resource:\n                  - !Sub \"${OrdersTable.Arn}/index/unpaidByExpiry\"", "                  - dynamodb:Query\n                  - dynamodb:Scan\n                Resource:\n                  - !Sub \"${OrdersTable.Arn}/index/unpaidByExpiry\"", check_policies),
            ("                  - !Sub \"${OrdersTable.Arn}/index/byUser\"", "                  - !Sub \"${OrdersTable.Arn}/index/*\"", check_policies),
            (api_send, api_send.replace("sqs:SendMessage", "sqs:SendMessage\n                  - sqs:GetQueueUrl"), check_policies),
            ("                Resource: !GetAtt ApiLogGroup.Arn", "                Resource: \"*\"", check_policies),
            ("                  - dynamodb:PutItem\n                Resource:\n                  - !GetAtt OrdersTable.Arn", "                  - dynamodb:PutItem\n                Resource:\n                  - !GetAtt InventoryTable.Arn\n                  - !GetAtt OrdersTable.Arn", check_policies),
            ("  SweeperRole:\n    Type: AWS::IAM::Role\n    Properties:\n", "  SweeperRole:\n    Type: AWS::IAM::Role\n    Properties:\n      ManagedPolicyArns: [arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]\n", check_policies),
            ("      Role: !GetAtt ConsumerRole.Arn\n", "      Role: !GetAtt ConsumerRole.Arn\n      Policies:\n        - SQSPollerPolicy: { QueueName: !GetAtt OrdersQueue.QueueName }\n", check_policies),
            ("                    - !Sub \"arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${NotifySecretParameter}\"\n                - !Ref AWS::NoValue", "                    - !Sub \"arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${NotifySecretParameter}\"\n                    - !Sub \"arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${AdminTokenParameter}\"\n                - !Ref AWS::NoValue", check_policies),
            ("              - !If\n                - NotifyOn\n                - Sid: NotifySecret", "              - !If\n                - CustomSecretsKey\n                - Sid: NotifySecret", check_policies),
            ("                    StringEquals:\n                      kms:ViaService", "                    StringLike:\n                      kms:ViaService", check_policies),
            # Tables.
            ("            - { AttributeName: notifyDue, KeyType: RANGE }\n          Projection: { ProjectionType: KEYS_ONLY }", "            - { AttributeName: notifyDue, KeyType: RANGE }\n          Projection: { ProjectionType: ALL }", check_notifications),
            ("    DeletionPolicy: Retain\n    UpdateReplacePolicy: Retain\n    Properties:\n      TableName: !Sub \"${AWS::StackName}-inventory\"", "    DeletionPolicy: Delete\n    UpdateReplacePolicy: Retain\n    Properties:\n      TableName: !Sub \"${AWS::StackName}-inventory\"", check_table_protection),
            ("    UpdateReplacePolicy: Retain\n    Properties:\n      TableName: !Sub \"${AWS::StackName}-orders\"", "    Properties:\n      TableName: !Sub \"${AWS::StackName}-orders\"", check_table_protection),
            ("      DeletionProtectionEnabled: true", "      DeletionProtectionEnabled: false", check_table_protection),
            ("        PointInTimeRecoveryEnabled: true", "        PointInTimeRecoveryEnabled: false", check_table_protection),
            # Secrets: a default name, a plain secret in the environment.
            ("    ConstraintDescription: a Parameter Store path such as /orderflow/prod/webhook-secret\n", "    ConstraintDescription: a Parameter Store path such as /orderflow/prod/webhook-secret\n    Default: /orderflow/webhook-secret\n", check_secrets),
            ("          ORDERFLOW_ADMIN_TOKEN_PARAMETER: !Ref AdminTokenParameter\n", "          ORDERFLOW_ADMIN_TOKEN_PARAMETER: !Ref AdminTokenParameter\n          ORDERFLOW_WEBHOOK_SECRET: hunter2hunter2hunter2\n", check_secrets),
            ("          ORDERFLOW_NOTIFY_SECRET_PARAMETER: !If [NotifyOn, !Ref NotifySecretParameter, !Ref AWS::NoValue]", "          ORDERFLOW_NOTIFY_SECRET_PARAMETER: !Ref NotifySecretParameter", check_secrets),
            ("AllowedPattern: \"^/[A-Za-z0-9_./-]+$\"", "AllowedPattern: \"^[A-Za-z0-9_./-]+$\"", check_secrets),
            # Logs.
            ("      LogGroupName: !Sub \"/aws/lambda/${AWS::StackName}-consumer\"\n      RetentionInDays: !Ref LogRetentionInDays", "      LogGroupName: !Sub \"/aws/lambda/${AWS::StackName}-consumer\"\n      RetentionInDays: 3653", check_logs),
            ("      FunctionName: !Sub \"${AWS::StackName}-sweeper\"\n", "", check_logs),
            ("                Resource: !GetAtt SweeperLogGroup.Arn", "                Resource: !GetAtt ApiLogGroup.Arn", check_logs),
            # Alarms: a DLQ without one, a threshold, an action without its condition.
            ("        - { Name: QueueName, Value: !GetAtt NotifyDeadLetterQueue.QueueName }", "        - { Name: QueueName, Value: !GetAtt NotifyQueue.QueueName }", check_alarms),
            ("      MetricName: ApproximateNumberOfMessagesVisible\n      Dimensions:\n        - { Name: QueueName, Value: !GetAtt RefundsDeadLetterQueue.QueueName }\n      Statistic: Maximum\n      Period: 60\n      EvaluationPeriods: 1\n      Threshold: 0", "      MetricName: ApproximateNumberOfMessagesVisible\n      Dimensions:\n        - { Name: QueueName, Value: !GetAtt RefundsDeadLetterQueue.QueueName }\n      Statistic: Maximum\n      Period: 60\n      EvaluationPeriods: 1\n      Threshold: 10", check_alarms),
            ("      Threshold: !Ref DelayedQueueAgeAlarmSeconds", "      Threshold: !Ref QueueAgeAlarmSeconds", check_alarms),
            ("      AlarmActions: !If [AlarmActionsOn, [!Ref AlarmTopicArn], !Ref AWS::NoValue]", "      AlarmActions: [!Ref AlarmTopicArn]", check_alarms),
            # Concurrency and retries.
            ("            ScalingConfig:\n              MaximumConcurrency: !Ref ConsumerMaxConcurrency\n", "            ScalingConfig:\n              MaximumConcurrencyy: !Ref ConsumerMaxConcurrency\n", check_concurrency),
            ("      ReservedConcurrentExecutions: 1", "      ReservedConcurrentExecutions: 2", check_concurrency),
            ("        MaximumRetryAttempts: 0\n        MaximumEventAgeInSeconds: 60", "        MaximumRetryAttempts: 2\n        MaximumEventAgeInSeconds: 60", check_concurrency),
            ("            RetryPolicy:\n              MaximumRetryAttempts: 0", "            RetryPolicy:\n              MaximumRetryAttempts: 1", check_concurrency),
            # Queue URLs.
            ("      QueueName: !Sub \"${AWS::StackName}-orders-payments\"", "      QueueName: !Sub \"${AWS::StackName}-payments\"", check_queue_urls),
            ("        ORDERFLOW_QUEUE_URL: !Ref OrdersQueue", "        ORDERFLOW_QUEUE_NAME: !GetAtt OrdersQueue.QueueName", check_queue_urls),
            # Notifications.
            ("                  - !Sub \"${OrdersTable.Arn}/index/recent\"\n                  - !Sub \"${OrdersTable.Arn}/index/notifyPending\"", "                  - !Sub \"${OrdersTable.Arn}/index/recent\"", check_notifications),
            # Partitions: a constant listing key, a projection that every transition writes,
            # a scan of the orders.
            ("            - { AttributeName: listShard, KeyType: HASH }", "            - { AttributeName: all, KeyType: HASH }", check_tables),
            ("            - { AttributeName: statusShard, KeyType: HASH }", "            - { AttributeName: orderStatus, KeyType: HASH }", check_tables),
            ("            NonKeyAttributes: [orderStatus]", "            NonKeyAttributes: [orderStatus, updatedAt]", check_tables),
            ("        # Every order, over 32 partitions (listShard); written once per order.\n        - IndexName: recent\n          KeySchema:\n            - { AttributeName: listShard, KeyType: HASH }\n            - { AttributeName: sortKey, KeyType: RANGE }\n          Projection: { ProjectionType: KEYS_ONLY }", "        # Every order, over 32 partitions (listShard); written once per order.\n        - IndexName: recent\n          KeySchema:\n            - { AttributeName: listShard, KeyType: HASH }\n            - { AttributeName: sortKey, KeyType: RANGE }\n          Projection: { ProjectionType: ALL }", check_tables),
            ("                  - dynamodb:Scan\n                Resource:\n                  - !GetAtt InventoryTable.Arn", "                  - dynamodb:Scan\n                Resource:\n                  - !GetAtt OrdersTable.Arn", check_policies),
        ]
        for old, new, check in mutations:
            with self.subTest(f"{check.__name__}: {new.strip()[:70]}"):
                self.assertIn(old, text)
                with self.assertRaises(AssertionError):
                    check(load(text.replace(old, new, 1)))


if __name__ == "__main__":
    unittest.main()
