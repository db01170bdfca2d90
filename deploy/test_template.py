"""Checks of deploy/template.yaml that cfn-lint does not make (it accepts, for instance,
`ReportBatchItemFailurez`, `rate(5 minute)` and an event of `Type: SQSS`): the partial
batch setting, the schedule expression, the dead-letter redrive, the visibility timeout
against the consumer's timeout, the index names the code queries, each function's
policies, action by action, and the notifications (secret, environment, index, queue). Run: python -m unittest deploy/test_template.py
"""

import pathlib
import re
import unittest

from cfnlint.decode import cfn_yaml

TEMPLATE = pathlib.Path(__file__).with_name("template.yaml")

# What each function does, and so all it may do.
EXPECTED_ACTIONS = {
    "ApiFunction": {
        "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query",
        "dynamodb:PutItem", "dynamodb:ConditionCheckItem",
        "sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes",
    },
    "ConsumerFunction": {
        "dynamodb:GetItem", "dynamodb:UpdateItem",
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage",
    },
    "SweeperFunction": {
        "dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem",
        "sqs:SendMessage", "sqs:GetQueueUrl",
    },
}
# The tables each function may touch (the sweeper and the consumer never see keys).
EXPECTED_TABLES = {
    "ApiFunction": {"OrdersTable", "InventoryTable", "IdempotencyTable"},
    "ConsumerFunction": {"OrdersTable", "InventoryTable"},
    "SweeperFunction": {"OrdersTable", "InventoryTable"},
}
INDEXES = {"byUser", "byStatus", "all", "unpaidByExpiry", "paidWaiting", "notifyPending"}
WORK_QUEUES = {"OrdersQueue", "RefundsQueue", "PaymentsQueue", "NotifyQueue"}
# Who reads the pending-notifications index (the failed listing, the overdue sweep), and
# who sends to the notify queue (after each event's write, retries, overdue orders).
NOTIFY_INDEX_READERS = {"ApiFunction", "SweeperFunction"}
NOTIFY_SENDERS = {"ApiFunction", "ConsumerFunction", "SweeperFunction"}
SCHEDULE = re.compile(
    r"^(rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)|cron\(\S+( \S+){5}\))$"
)


def load(text=None):
    return cfn_yaml.loads(text if text is not None else TEMPLATE.read_text())


def resources(t, kind):
    return {k: v for k, v in t["Resources"].items() if v["Type"] == kind}


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


def check_consumer_events(t):
    events = t["Resources"]["ConsumerFunction"]["Properties"]["Events"]
    queues = set()
    for name, e in events.items():
        assert e["Type"] == "SQS", f"{name}: type {e['Type']}"
        assert e["Properties"].get("FunctionResponseTypes") == ["ReportBatchItemFailures"], name
        queues |= refs(e["Properties"]["Queue"])
    assert queues == WORK_QUEUES, queues


def check_schedule(t):
    events = t["Resources"]["SweeperFunction"]["Properties"]["Events"]
    (event,) = events.values()
    assert event["Type"] == "Schedule", event["Type"]
    expression = event["Properties"]["Schedule"]
    if isinstance(expression, dict):
        expression = t["Parameters"][expression["Ref"]]["Default"]
    assert SCHEDULE.match(expression), expression


def check_redrive(t):
    queues = resources(t, "AWS::SQS::Queue")
    work = {k: v for k, v in queues.items() if "DeadLetter" not in k}
    assert set(work) == WORK_QUEUES, work.keys()
    for name, q in work.items():
        policy = q["Properties"]["RedrivePolicy"]
        (dlq,) = refs(policy["deadLetterTargetArn"])
        assert dlq in queues and "DeadLetter" in dlq, (name, dlq)
        assert 1 <= int(policy["maxReceiveCount"]) <= 10, (name, policy)


def check_visibility(t):
    timeout = int(t["Resources"]["ConsumerFunction"]["Properties"]["Timeout"])
    for name in sorted(WORK_QUEUES):
        visibility = int(t["Resources"][name]["Properties"]["VisibilityTimeout"])
        assert visibility >= 6 * timeout, (name, visibility, timeout)


def check_policies(t):
    for fn, expected in EXPECTED_ACTIONS.items():
        statements = [
            s for p in t["Resources"][fn]["Properties"]["Policies"] for s in p["Statement"]
        ]
        actions, tables = set(), set()
        for s in statements:
            assert s["Effect"] == "Allow", (fn, s)
            acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            assert all("*" not in a for a in acts), (fn, acts)
            actions |= set(acts)
            for r in s["Resource"]:
                assert r != "*", (fn, s)
                if isinstance(r, dict) and "Fn::Sub" in r:
                    assert not r["Fn::Sub"].endswith("*"), (fn, r)
                tables |= {x for x in refs(r) if x.endswith("Table")}
        assert actions == expected, (fn, actions ^ expected)
        assert tables == EXPECTED_TABLES[fn], (fn, tables)


def check_tables(t):
    orders = t["Resources"]["OrdersTable"]["Properties"]
    assert {i["IndexName"] for i in orders["GlobalSecondaryIndexes"]} == INDEXES
    inventory = t["Resources"]["InventoryTable"]["Properties"]
    assert [i["IndexName"] for i in inventory["GlobalSecondaryIndexes"]] == ["catalogue"]
    # No Scan anywhere: every listing and periodic read goes through an index.
    assert "dynamodb:Scan" not in TEMPLATE.read_text()
    ttl = t["Resources"]["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "ttl", "Enabled": True}, ttl
    g = t["Globals"]["Function"]
    assert g["Runtime"] == "provided.al2023" and g["Architectures"] == ["arm64"], g


def statements(t, fn):
    return [s for p in t["Resources"][fn]["Properties"]["Policies"] for s in p["Statement"]]


def check_notifications(t):
    # The secret: NoEcho, and no default (never an empty or well-known signing key).
    secret = t["Parameters"]["NotifySecret"]
    assert secret.get("NoEcho") in (True, "true"), secret
    assert "Default" not in secret, secret
    assert int(secret.get("MinLength", 0)) >= 16, secret
    # Every function gets the URL and the secret (all write events), only when it is set.
    env = t["Globals"]["Function"]["Environment"]["Variables"]
    for var, param in [("ORDERFLOW_NOTIFY_URL", "NotifyUrl"), ("ORDERFLOW_NOTIFY_SECRET", "NotifySecret")]:
        assert env[var] == {"Fn::If": ["NotifyOn", {"Ref": param}, {"Ref": "AWS::NoValue"}]}, (var, env.get(var))
    # The index is sparse and keys only (updates of a pending order cost it nothing).
    (index,) = [
        i for i in t["Resources"]["OrdersTable"]["Properties"]["GlobalSecondaryIndexes"]
        if i["IndexName"] == "notifyPending"
    ]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["notifyShard", "notifyDue"], index
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}, index
    for fn in EXPECTED_ACTIONS:
        reads = any(
            "dynamodb:Query" in s["Action"]
            and any("index/notifyPending" in str(r) for r in s["Resource"])
            for s in statements(t, fn)
        )
        assert reads == (fn in NOTIFY_INDEX_READERS), (fn, "query notifyPending", reads)
        sends = any(
            "sqs:SendMessage" in s["Action"] and "NotifyQueue" in refs(s["Resource"])
            for s in statements(t, fn)
        )
        assert sends == (fn in NOTIFY_SENDERS), (fn, "send to NotifyQueue", sends)


CHECKS = [check_consumer_events, check_schedule, check_redrive, check_visibility, check_policies, check_tables, check_notifications]


class Template(unittest.TestCase):
    def test_the_template_passes_every_check(self):
        t = load()
        for check in CHECKS:
            with self.subTest(check.__name__):
                check(t)

    def test_each_check_catches_what_cfn_lint_lets_through(self):
        text = TEMPLATE.read_text()
        mutations = [
            ("FunctionResponseTypes: [ReportBatchItemFailures]", "FunctionResponseTypes: [ReportBatchItemFailurez]", check_consumer_events),
            ("Type: SQS\n          Properties:\n            Queue: !GetAtt OrdersQueue.Arn", "Type: SQSS\n          Properties:\n            Queue: !GetAtt OrdersQueue.Arn", check_consumer_events),
            ("Default: rate(5 minutes)", "Default: rate(5 minute)", check_schedule),
            ("      VisibilityTimeout: 180\n      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt RefundsDeadLetterQueue.Arn", "      VisibilityTimeout: 60\n      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt RefundsDeadLetterQueue.Arn", check_visibility),
            ("        deadLetterTargetArn: !GetAtt PaymentsDeadLetterQueue.Arn", "        deadLetterTargetArn: !GetAtt OrdersQueue.Arn", check_redrive),
            ("                - dynamodb:Query\n              Resource:\n                - !Sub \"${OrdersTable.Arn}/index/unpaidByExpiry\"", "                - dynamodb:Query\n                - dynamodb:Scan\n              Resource:\n                - !Sub \"${OrdersTable.Arn}/index/unpaidByExpiry\"", check_policies),
            ("                - !Sub \"${OrdersTable.Arn}/index/byUser\"", "                - !Sub \"${OrdersTable.Arn}/index/*\"", check_policies),
            ("    NoEcho: true\n    MinLength: 16", "    NoEcho: true\n    Default: \"\"\n    MinLength: 16", check_notifications),
            ("            Queue: !GetAtt NotifyQueue.Arn", "            Queue: !GetAtt PaymentsQueue.Arn", check_consumer_events),
            ("        deadLetterTargetArn: !GetAtt NotifyDeadLetterQueue.Arn\n        maxReceiveCount: 5\n", "        deadLetterTargetArn: !GetAtt NotifyDeadLetterQueue.Arn\n        maxReceiveCount: 50\n", check_redrive),
            ("          Projection: { ProjectionType: KEYS_ONLY }", "          Projection: { ProjectionType: ALL }", check_notifications),
            ("                - !Sub \"${OrdersTable.Arn}/index/notifyPending\"\n                - !GetAtt InventoryTable.Arn", "                - !GetAtt InventoryTable.Arn", check_notifications),
        ]
        for old, new, check in mutations:
            with self.subTest(new.strip()[:60]):
                self.assertIn(old, text)
                with self.assertRaises(AssertionError):
                    check(load(text.replace(old, new, 1)))


if __name__ == "__main__":
    unittest.main()
