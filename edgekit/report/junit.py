"""JUnit XML: one test suite per artifact (or failed cell), one test case per check.

CI systems (GitHub, GitLab, Jenkins) show a failed threshold as a failed test named
``<cell-id>:<format>.<check>``; skipped checks (no baseline, no labels) show as skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET


def render(report: dict) -> str:
    s = report["summary"]
    root = ET.Element(
        "testsuites",
        name="edgekit report",
        tests=str(s["checks"] + (0 if report["build"]["complete"] else 1)),
        failures=str(len(report["failures"])),
        skipped=str(s["skip"]),
    )
    if not report["build"]["complete"]:
        suite = ET.SubElement(root, "testsuite", name="(build)", tests="1", failures="1", skipped="0")
        case = ET.SubElement(suite, "testcase", classname="(build)", name="complete")
        ET.SubElement(case, "failure", message="the build did not finish", type="incomplete")
    for r in report["rows"]:
        checks = r["checks"]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=r["key"],
            tests=str(len(checks)),
            failures=str(sum(c["status"] == "fail" for c in checks)),
            skipped=str(sum(c["status"] == "skip" for c in checks)),
        )
        for c in checks:
            case = ET.SubElement(suite, "testcase", classname=r["key"], name=c["name"])
            if c["status"] == "fail":
                ET.SubElement(case, "failure", message=c["message"], type=c["name"]).text = c["message"]
            elif c["status"] == "skip":
                ET.SubElement(case, "skipped", message=c["message"])
            else:
                ET.SubElement(case, "system-out").text = c["message"]
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
