"""Two HAPI nodes with the plugin, one PostgreSQL database, one binary store (scripts/cluster-test.sh
starts them): clients upload instances of the SAME studies to BOTH nodes at once, and every
ImagingStudy must end exactly right, read from either node.

Environment: DICOMFHIR_NODE_A, DICOMFHIR_NODE_B (FHIR base URLs), DICOMFHIR_DATA (the test corpus,
for pydicom/CT_small.dcm). Sizes: CLUSTER_STUDIES (3), CLUSTER_INSTANCES (200 per study, in 2
series), CLUSTER_THREADS (8).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from dicom_instances import Instance, make_instance
from fhir_http import thread_session as http

NODE_A = os.environ.get("DICOMFHIR_NODE_A")
NODE_B = os.environ.get("DICOMFHIR_NODE_B")
STUDIES = int(os.environ.get("CLUSTER_STUDIES", "3"))
PER_STUDY = int(os.environ.get("CLUSTER_INSTANCES", "200"))
SERIES_PER_STUDY = 2
THREADS = int(os.environ.get("CLUSTER_THREADS", "8"))
REUPLOAD_PER_STUDY = 20
FHIR_JSON = "application/fhir+json"


@pytest.fixture(autouse=True, scope="module")
def _two_nodes():
    """Missing nodes are a failure, never a skip."""
    if not (NODE_A and NODE_B):
        pytest.fail("DICOMFHIR_NODE_A and DICOMFHIR_NODE_B are not set: run scripts/cluster-test.sh (it starts two nodes)")


def uid(*parts) -> str:
    # A fresh UID root per run (the database outlives nothing, but keep runs independent anyway).
    return "2.25.%d" % uuid.uuid5(_RUN, "/".join(map(str, parts))).int


_RUN = uuid.uuid4()


@pytest.fixture(scope="module")
def instances() -> list[Instance]:
    out = []
    for s in range(STUDIES):
        for i in range(PER_STUDY):
            se = i % SERIES_PER_STUDY
            out.append(make_instance(uid("study", s), uid("series", s, se), uid("sop", s, i),
                                     SeriesNumber=se + 1, InstanceNumber=i + 1, PatientID=f"CLUSTER{s}"))
    # Interleave the studies so that every study is written from both nodes all the time.
    out.sort(key=lambda x: (int(x.sop.split(".")[-1]) % 7919, x.sop))
    return out


def post(base: str, data: bytes) -> requests.Response:
    return http().post(f"{base}/Binary", data=data, timeout=300,
                       headers={"Content-Type": "application/dicom", "Accept": FHIR_JSON})


def location_id(response: requests.Response) -> str | None:
    loc = response.headers.get("Location") or response.headers.get("Content-Location") or ""
    parts = loc.split("/")
    return parts[parts.index("Binary") + 1] if "Binary" in parts else None


@pytest.fixture(scope="module")
def uploaded(instances):
    """Every instance once, 8 client threads, request k going to node A when k is even, B when odd."""
    nodes = [NODE_A, NODE_B]

    def one(k_inst):
        k, inst = k_inst
        r = post(nodes[k % 2], inst.data)
        return k % 2, r.status_code, location_id(r), r.text[:300] if r.status_code >= 300 else ""

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(one, enumerate(instances)))
    # Study writes are deferred (the default): a node shows its own uploads to every request it
    # serves, but another node's only once that node has written them. Any read on a node waits
    # for its pending writes, so one read per node settles both before the checks.
    for base in nodes:
        http().get(f"{base}/ImagingStudy", params={"_summary": "count"}, headers={"Accept": FHIR_JSON}, timeout=300)
    return results


def read_study(base: str, study_uid: str) -> dict:
    r = http().get(f"{base}/ImagingStudy/{study_uid}", headers={"Accept": FHIR_JSON}, timeout=60)
    assert r.status_code == 200, f"{base}: GET ImagingStudy/{study_uid}: {r.status_code} {r.text[:500]}"
    return r.json()


def check_study(study: dict, expected: list[Instance]) -> list[str]:
    problems = []
    listed = Counter()
    per_series = {}
    for series in study.get("series", []):
        members = [i.get("uid") for i in series.get("instance", [])]
        listed.update(members)
        per_series[series.get("uid")] = series
        if series.get("numberOfInstances") != len(members):
            problems.append(f"series {series.get('uid')}: numberOfInstances {series.get('numberOfInstances')} "
                            f"!= {len(members)} listed")
    want = Counter(i.sop for i in expected)
    dupes = [u for u, n in listed.items() if n > 1]
    missing = [u for u in want if u not in listed]
    extra = [u for u in listed if u not in want]
    if dupes:
        problems.append(f"{len(dupes)} instances listed more than once, e.g. {dupes[:3]}")
    if missing:
        problems.append(f"{len(missing)} of {len(want)} instances missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} unexpected instances, e.g. {extra[:3]}")
    if study.get("numberOfInstances") != len(want):
        problems.append(f"numberOfInstances {study.get('numberOfInstances')} != {len(want)}")
    want_series = {i.series for i in expected}
    if set(per_series) != want_series:
        problems.append(f"series {sorted(per_series)} != {sorted(want_series)}")
    if study.get("numberOfSeries") != len(want_series):
        problems.append(f"numberOfSeries {study.get('numberOfSeries')} != {len(want_series)}")
    for series_uid in want_series:
        n = sum(1 for i in expected if i.series == series_uid)
        got = per_series.get(series_uid, {}).get("numberOfInstances")
        if got != n:
            problems.append(f"series {series_uid}: numberOfInstances {got} != {n}")
    return problems


def by_study(instances) -> dict[str, list[Instance]]:
    out: dict[str, list[Instance]] = {}
    for inst in instances:
        out.setdefault(inst.study, []).append(inst)
    return out


def test_every_upload_to_either_node_is_created(instances, uploaded):
    problems = [f"{instances[k].sop} via node-{'ab'[node]}: {status} {text}"
                for k, (node, status, _, text) in enumerate(uploaded) if status != 201]
    problems += [f"{instances[k].sop}: Location Binary/{loc}, expected Binary/{instances[k].sha256}"
                 for k, (_, status, loc, _) in enumerate(uploaded) if status == 201 and loc != instances[k].sha256]
    assert not problems, f"{len(problems)} of {len(instances)} uploads wrong:\n" + "\n".join(problems[:20])
    assert Counter(node for node, *_ in uploaded) == {0: (len(instances) + 1) // 2, 1: len(instances) // 2}


@pytest.mark.parametrize("node", ["a", "b"])
def test_every_study_is_exactly_right_on_both_nodes(instances, uploaded, node):
    base = NODE_A if node == "a" else NODE_B
    problems = []
    for study_uid, expected in by_study(instances).items():
        problems += [f"ImagingStudy/{study_uid} via node-{node}: {p}"
                     for p in check_study(read_study(base, study_uid), expected)]
    assert not problems, "\n".join(problems)


def test_both_nodes_see_the_same_study_version(instances, uploaded):
    for study_uid in by_study(instances):
        a, b = read_study(NODE_A, study_uid), read_study(NODE_B, study_uid)
        assert a["meta"]["versionId"] == b["meta"]["versionId"], study_uid
        assert a.get("series") == b.get("series"), study_uid


def history_total(base: str, path: str) -> int:
    r = http().get(f"{base}/{path}/_history", params={"_summary": "count"}, headers={"Accept": FHIR_JSON}, timeout=60)
    assert r.status_code == 200, f"GET {path}/_history: {r.status_code} {r.text[:300]}"
    return r.json()["total"]


def test_same_new_bytes_to_both_nodes_at_the_same_moment(instances, uploaded):
    """Instances of a new study, each sent to BOTH nodes at once (a client or balancer retrying on
    the other node). Both nodes race to create the same Binary/<sha256> (and the study). Whatever
    each first answer, a retry answers 200, and the study lists each instance once."""
    study, series = uid("twin-study"), uid("twin-series")
    twins = [make_instance(study, series, uid("twin", i), InstanceNumber=10000 + i, SeriesNumber=1,
                           PatientID="CLUSTER0") for i in range(10)]
    first = Counter()
    problems = []
    with ThreadPoolExecutor(2) as pool:
        for inst in twins:
            barrier = threading.Barrier(2)

            def send(base, inst=inst, barrier=barrier):
                barrier.wait()
                return post(base, inst.data)

            ra, rb = pool.map(send, [NODE_A, NODE_B])
            first.update([ra.status_code, rb.status_code])
            if sorted([ra.status_code, rb.status_code]) != [200, 201]:
                again = post(NODE_A, inst.data)
                if again.status_code != 200 or location_id(again) != inst.sha256:
                    problems.append(f"{inst.sop}: first {ra.status_code}/{rb.status_code}, retry {again.status_code} "
                                    f"{again.text[:300]}")
    print(f"first answers to simultaneous identical uploads on two nodes: {dict(first)}")
    for node, base in (("a", NODE_A), ("b", NODE_B)):
        problems += [f"via node-{node}: {p}" for p in check_study(read_study(base, study), twins)]
    for inst in twins:
        n = history_total(NODE_B, f"Binary/{inst.sha256}")
        if n != 1:
            problems.append(f"Binary/{inst.sha256}: {n} versions")
    assert not problems, "\n".join(problems)


def test_same_bytes_on_the_other_node_is_a_no_op(instances, uploaded):
    """Re-send some instances to the node that did NOT store them: 200, same Binary id, one version,
    and the studies do not change (no duplicate entry, no new version)."""
    groups = by_study(instances)
    index = {inst.sop: k for k, inst in enumerate(instances)}
    again = [inst for insts in groups.values() for inst in insts[:REUPLOAD_PER_STUDY]]
    before = {u: read_study(NODE_A, u)["meta"]["versionId"] for u in groups}

    def one(inst):
        other = NODE_B if index[inst.sop] % 2 == 0 else NODE_A
        r = post(other, inst.data)
        return r.status_code, location_id(r), r.text[:300] if r.status_code != 200 else ""

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(one, again))
        versions = list(pool.map(lambda i: history_total(NODE_A, f"Binary/{i.sha256}"), again))
    problems = [f"{inst.sop}: again on the other node: {status} Binary/{loc} {text}"
                for inst, (status, loc, text) in zip(again, results)
                if status != 200 or loc != inst.sha256]
    problems += [f"Binary/{inst.sha256}: {n} versions" for inst, n in zip(again, versions) if n != 1]
    for study_uid, expected in groups.items():
        for node, base in (("a", NODE_A), ("b", NODE_B)):
            study = read_study(base, study_uid)
            problems += [f"ImagingStudy/{study_uid} via node-{node} after re-upload: {p}"
                         for p in check_study(study, expected)]
            if study["meta"]["versionId"] != before[study_uid]:
                problems.append(f"ImagingStudy/{study_uid}: version {before[study_uid]} -> {study['meta']['versionId']}")
    assert not problems, "\n".join(problems[:30])


def test_same_sop_other_bytes_on_two_nodes_at_the_same_moment(instances):
    """Two different objects with the SAME SOP Instance UID (same study; InstanceNumber differs),
    sent at the same moment, one to node A and one to node B: exactly one is acknowledged (2xx),
    the other is refused with 409, and the study lists that SOP once, with the acknowledged bytes
    (instances are immutable across nodes too, not "the later write wins")."""
    study, series = uid("sop-race-study"), uid("sop-race-series")
    winners: dict[str, Instance] = {}
    sops = [uid("sop-race", i) for i in range(10)]
    problems = []
    with ThreadPoolExecutor(2) as pool:
        for i, sop in enumerate(sops):
            pair = [make_instance(study, series, sop, InstanceNumber=20000 + 10 * i + variant, SeriesNumber=1,
                                  PatientID="CLUSTER-SOP-RACE") for variant in range(2)]
            assert pair[0].sha256 != pair[1].sha256
            barrier = threading.Barrier(2)

            def send(base_inst, barrier=barrier):
                base, inst = base_inst
                barrier.wait()
                return post(base, inst.data)

            ra, rb = pool.map(send, [(NODE_A, pair[0]), (NODE_B, pair[1])])
            ok = [200 <= r.status_code < 300 for r in (ra, rb)]
            if sorted([ra.status_code // 100, rb.status_code // 100]) != [2, 4] or 409 not in (ra.status_code, rb.status_code):
                problems.append(f"round {i} ({sop}): node-a {ra.status_code} {ra.text[:200]!r}, "
                                f"node-b {rb.status_code} {rb.text[:200]!r}; expected one 2xx and one 409")
            if ok.count(True) == 1:
                winners[sop] = pair[0] if ok[0] else pair[1]
    # Settle both nodes' deferred study writes (any read waits for that node's own), then read.
    for base in (NODE_A, NODE_B):
        http().get(f"{base}/ImagingStudy", params={"_summary": "count"}, headers={"Accept": FHIR_JSON}, timeout=300)
    for node, base in (("a", NODE_A), ("b", NODE_B)):
        r = http().get(f"{base}/ImagingStudy/{study}", headers={"Accept": FHIR_JSON}, timeout=60)
        if r.status_code != 200:
            problems.append(f"via node-{node}: GET ImagingStudy/{study}: {r.status_code} {r.text[:300]}")
            continue
        listed: dict[str, list[str]] = {}
        for se in r.json().get("series", []):
            for entry in se.get("instance", []):
                refs = [e.get("valueReference", {}).get("reference") for e in entry.get("extension", [])
                        if e.get("url") == "http://dicomfhir.org/fhir/StructureDefinition/instance-binary"]
                listed.setdefault(entry.get("uid"), []).extend(refs or [None])
        for sop in sops:
            refs = listed.get(sop, [])
            winner = winners.get(sop)
            if len(refs) != 1:
                problems.append(f"via node-{node}: {sop} listed {len(refs)} times: {refs}")
            elif winner is not None and refs != [f"Binary/{winner.sha256}"]:
                problems.append(f"via node-{node}: {sop} listed as {refs}, acknowledged as Binary/{winner.sha256}")
    for sop, winner in winners.items():
        r = http().get(f"{NODE_A}/Binary/{winner.sha256}", headers={"Accept": "application/dicom"}, timeout=60)
        if r.status_code != 200 or r.content != winner.data:
            problems.append(f"Binary/{winner.sha256} ({sop}): HTTP {r.status_code}, not the acknowledged bytes")
    assert not problems, "\n".join(problems)


def test_one_new_study_two_patients_on_two_nodes_at_the_same_moment(instances):
    """The first two instances of a NEW study, naming two different patients, sent at the same
    moment, one to node A and one to node B: exactly one is acknowledged, the other is refused with
    409 (a study belongs to one patient; the database decides, not a JVM), and the ImagingStudy's
    subject is the acknowledged instance's patient on both nodes."""
    problems = []
    winners: dict[str, str] = {}
    rounds = 10
    with ThreadPoolExecutor(2) as pool:
        for i in range(rounds):
            study, series = uid("patient-race-study", i), uid("patient-race-series", i)
            pair = [(patient, make_instance(study, series, uid("patient-race-sop", i, variant), SeriesNumber=1,
                                            InstanceNumber=1, PatientID=patient))
                    for variant, patient in enumerate((f"RACE-A-{i}", f"RACE-B-{i}"))]
            barrier = threading.Barrier(2)

            def send(base_inst, barrier=barrier):
                base, (_, inst) = base_inst
                barrier.wait()
                return post(base, inst.data)

            ra, rb = pool.map(send, [(NODE_A, pair[0]), (NODE_B, pair[1])])
            codes = sorted([ra.status_code, rb.status_code])
            if codes[0] // 100 != 2 or codes[1] != 409:
                problems.append(f"round {i}: node-a {ra.status_code} {ra.text[:200]!r}, "
                                f"node-b {rb.status_code} {rb.text[:200]!r}; expected one 2xx and one 409")
                continue
            winners[study] = pair[0][0] if ra.status_code // 100 == 2 else pair[1][0]
    # Settle both nodes' deferred study writes (any read waits for that node's own), then read.
    for base in (NODE_A, NODE_B):
        http().get(f"{base}/ImagingStudy", params={"_summary": "count"}, headers={"Accept": FHIR_JSON}, timeout=300)
    for study, winner in winners.items():
        for node, base in (("a", NODE_A), ("b", NODE_B)):
            r = http().get(f"{base}/ImagingStudy/{study}", headers={"Accept": FHIR_JSON}, timeout=60)
            if r.status_code != 200:
                problems.append(f"{study} via node-{node}: GET ImagingStudy: {r.status_code}")
                continue
            subject = r.json().get("subject", {}).get("reference", "")
            p = http().get(f"{base}/{subject}", headers={"Accept": FHIR_JSON}, timeout=60).json()
            values = [ident.get("value") for ident in p.get("identifier", [])]
            if values != [winner]:
                problems.append(f"{study} via node-{node}: the study's subject {subject} has identifiers "
                                f"{values}; the acknowledged instance names {winner}")
    assert not problems, "\n".join(problems)


def test_wado_on_one_node_sees_the_other_nodes_change_of_a_study_it_has_read(uploaded):
    """The DICOMweb facade may serve a study from a parsed copy (docs/security.md, "The parsed-study
    cache"); every request checks the study's version in the shared database, so a study node B has
    read (and kept) is served as node A changed it, never as B kept it."""
    study, series = uid("wado", "study"), uid("wado", "series")
    first, second = (make_instance(study, series, uid("wado", "sop", n), PatientID="CLUSTERW", SeriesNumber=1,
                                   InstanceNumber=n + 1) for n in range(2))

    def metadata(base: str, inst: Instance) -> int:
        url = f"{base}/dicomweb/studies/{study}/series/{series}/instances/{inst.sop}/metadata"
        return http().get(url, headers={"Accept": "application/dicom+json"}, timeout=60).status_code

    def settle(base: str):  # any read on a node waits for that node's pending study writes
        http().get(f"{base}/ImagingStudy", params={"_summary": "count"}, headers={"Accept": FHIR_JSON}, timeout=300)

    assert post(NODE_A, first.data).status_code == 201
    settle(NODE_A)
    assert [metadata(NODE_B, first) for _ in range(3)] == [200, 200, 200]  # kept by B after the first
    assert metadata(NODE_B, second) == 404
    assert post(NODE_A, second.data).status_code == 201
    settle(NODE_A)
    assert metadata(NODE_B, second) == 200, "node B served the study as it had kept it"
    assert metadata(NODE_B, first) == 200
