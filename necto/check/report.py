"""`necto check` results for people (text), CI systems (JUnit XML) and pull requests (Markdown).

JUnit: one test case per endpoint (classname = host, name = "METHOD /path"); fail-level findings
are its <failure>, warnings and notes go to its <system-out>. Markdown: one table of the
endpoints with findings, ready to paste into a pull-request comment.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

ICONS = {"fail": "❌", "warn": "⚠️", "note": "ℹ️", "pass": "✅"}


def _sides(r: dict[str, Any]) -> str:
    b, c = r["baseline"], r["current"]
    return f"{b['label']} ({b['entries']} entries) -> {c['label']} ({c['entries']} entries)"


def headline(r: dict[str, Any]) -> str:
    s = r["summary"]
    parts = [f"{s['failures']} failure{'s' if s['failures'] != 1 else ''}"]
    parts.append(f"{s['warnings']} warning{'s' if s['warnings'] != 1 else ''}")
    parts.append(f"{s['notes']} note{'s' if s['notes'] != 1 else ''}")
    return f"{r['verdict'].upper()}: {', '.join(parts)} over {s['endpoints']} endpoints ({s['changed']} with findings)"


def text_report(r: dict[str, Any]) -> str:
    lines = [f"necto check: {_sides(r)}"]
    if r["rules"]["source"]:
        lines.append(f"rules: {r['rules']['source']}")
    for ep in r["endpoints"]:
        if not ep["findings"]:
            continue
        lines.append(f"\n{ep['verdict'].upper():<5} {ep['endpoint']}")
        for f in ep["findings"]:
            lines.append(f"  {f['level']:<5} {f['kind']}: {f['message']}")
    lines.append("\n" + headline(r))
    return "\n".join(lines)


def junit_xml(r: dict[str, Any]) -> bytes:
    s = r["summary"]
    suites = ET.Element(
        "testsuites",
        name="necto check",
        tests=str(s["endpoints"]),
        failures=str(sum(1 for ep in r["endpoints"] if ep["verdict"] == "fail")),
    )
    suite = ET.SubElement(
        suites, "testsuite", name=f"necto check: {_sides(r)}", tests=suites.get("tests", "0"),
        failures=suites.get("failures", "0"), errors="0", skipped="0",
    )  # fmt: skip
    for ep in r["endpoints"]:
        case = ET.SubElement(suite, "testcase", classname=ep["host"] or "any host", name=f"{ep['method']} {ep['path']}")
        fails = [f for f in ep["findings"] if f["level"] == "fail"]
        if fails:
            failure = ET.SubElement(
                case,
                "failure",
                message="; ".join(f["message"] for f in fails),
                type=",".join(sorted({f["kind"] for f in fails})),
            )
            failure.text = "\n".join(f"{f['kind']}: {f['message']}" for f in fails)
        others = [f for f in ep["findings"] if f["level"] != "fail"]
        if others:
            ET.SubElement(case, "system-out").text = "\n".join(
                f"{f['level']} {f['kind']}: {f['message']}" for f in others
            )
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(r: dict[str, Any]) -> str:
    icon = ICONS["fail" if r["verdict"] == "fail" else "pass"]
    lines = [f"### {icon} Necto API check: {headline(r)}", "", f"`{_cell(_sides(r))}`", ""]
    rows = [(ep, f) for ep in r["endpoints"] for f in ep["findings"]]
    if rows:
        lines += ["| | Endpoint | Finding | Detail |", "|---|---|---|---|"]
        for ep, f in rows:
            lines.append(f"| {ICONS[f['level']]} | `{_cell(ep['endpoint'])}` | {f['kind']} | {_cell(f['message'])} |")
    else:
        lines.append("No changes to the API contract.")
    unchanged = sum(1 for ep in r["endpoints"] if not ep["findings"])
    if rows and unchanged:
        lines += ["", f"{unchanged} endpoint{'s' if unchanged != 1 else ''} unchanged."]
    return "\n".join(lines) + "\n"
