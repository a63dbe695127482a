"""shapes.py - who talks to whom in the MQTT benchmarks, and the plan files
the load generator reads (bench/plan.h describes the format).

One pool of users and a few conversations serve every shape:

  fanin    10 publishers -> 1 subscriber, one conversation of 11
  fanout   1 publisher -> 50 subscribers, one conversation of 51
  groups   many small group conversations (3 to 20 members, drawn from the
           pool) at once; every member subscribes to each of its
           conversations and publishes into them in turn
  ingest   the fanin conversation's 10 publishers and no subscriber: only
           the broker's and the writer's work (persistence benchmark)

The same plan is written for every peer; only the credentials differ (and
Parley's publishers also subscribe to their inbox for acks).
"""

import random
import secrets

DEVICE = "bench"


class Topology:
    def __init__(self, n_users, n_groups, group_min=3, group_max=20, seed=4):
        self.n_users = max(n_users, 11)
        self.n_groups = n_groups
        self.group_min = group_min
        self.group_max = min(group_max, self.n_users)
        self.rng = random.Random(seed)
        self.users = []          # dicts: id, username, token, dynsec_password
        self.conversations = []  # dicts: id, name, members (user ids)

    def usernames(self, prefix):
        return [f"{prefix}{i:04d}" for i in range(self.n_users)]

    def set_users(self, users):
        for u in users:
            u["dynsec_password"] = secrets.token_hex(16)
        self.users = users

    def conversation_specs(self):
        """(name, member indices) of every conversation, owner first."""
        specs = [("fanin", list(range(11)))]
        if self.n_users >= 51:
            specs.append(("fanout", list(range(51))))
        for g in range(self.n_groups):
            size = self.rng.randint(self.group_min, self.group_max)
            specs.append((f"group{g}", self.rng.sample(range(self.n_users), size)))
        return specs

    def conv(self, name):
        return next(c for c in self.conversations if c["name"] == name)

    def has_shape(self, shape):
        if shape == "fanout":
            return self.n_users >= 51
        if shape == "groups":
            return self.n_groups > 0
        return True


def _client_line(peer, user, device=DEVICE):
    username, password = peer.credentials(user)
    return f"client {user['id']}:{device} {username or '-'} {password or '-'}"


def write_plan(path, topo, shape, peer):
    """Writes the plan of one shape for one peer; returns path."""
    by_id = {u["id"]: u for u in topo.users}
    inbox = peer.wants_inbox()
    lines = []

    def client(user, subs=(), pubs=()):
        lines.append(_client_line(peer, user))
        lines.extend(f"sub conv/{c}/m" for c in subs)
        lines.extend(f"pub conv/{c}/m" for c in pubs)
        if inbox and pubs:
            lines.append(f"inbox user/{user['id']}/inbox")

    if shape in ("fanin", "ingest"):
        conv = topo.conv("fanin")
        members = [by_id[m] for m in conv["members"]]
        if shape == "fanin":
            client(members[0], subs=[conv["id"]])
        for u in members[1:11]:
            client(u, pubs=[conv["id"]])
    elif shape == "fanout":
        conv = topo.conv("fanout")
        members = [by_id[m] for m in conv["members"]]
        client(members[0], pubs=[conv["id"]])
        for u in members[1:51]:
            client(u, subs=[conv["id"]])
    elif shape == "groups":
        convs_of = {}
        for c in topo.conversations:
            if c["name"].startswith("group"):
                for m in c["members"]:
                    convs_of.setdefault(m, []).append(c["id"])
        for uid in sorted(convs_of):
            client(by_id[uid], subs=convs_of[uid], pubs=convs_of[uid])
    else:
        raise ValueError(shape)
    if shape == "ingest" and inbox:
        # The persistence benchmark holds the table: no acks to wait for.
        lines = [l for l in lines if not l.startswith("inbox ")]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_connect_plan(path, users, n, peer, first=0, subscribe_inbox=False):
    """Plan of connections first .. first + n - 1 of a sequence that takes
    the users in turn, each from as many devices as it takes (Parley allows
    any number of devices per token)."""
    lines = []
    for i in range(first, first + n):
        u = users[i % len(users)]
        lines.append(_client_line(peer, u, device=f"c{i // len(users)}"))
        if subscribe_inbox:
            lines.append(f"sub user/{u['id']}/inbox")
    path.write_text("\n".join(lines) + "\n")
    return path


def group_stats(topo):
    groups = [c for c in topo.conversations if c["name"].startswith("group")]
    sizes = [len(c["members"]) for c in groups]
    members = {m for c in groups for m in c["members"]}
    return {"conversations": len(groups), "members": len(members),
            "min": min(sizes) if sizes else 0, "max": max(sizes) if sizes else 0,
            "mean": sum(sizes) / len(sizes) if sizes else 0}
