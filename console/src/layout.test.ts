import { describe, expect, it } from "vitest";
import { currentMode, switchTarget } from "./layout";
import type { Project } from "./queries";

const project = (id: string, mode: "test" | "live", promotedFrom: string | null = null) => ({ id, mode, promotedFrom }) as Project;
const projects = [project("prj_t", "test"), project("prj_l", "live", "prj_t"), project("prj_solo", "test")];

describe("the test/live switch", () => {
  it.each([
    ["a test project to its live twin, same tab", "/test/projects/prj_t/keys", "live", "/live/projects/prj_l/keys"],
    ["a live project back to the test one it came from", "/live/projects/prj_l/catalog", "test", "/test/projects/prj_t/catalog"],
    ["a project without a twin to the other mode's list", "/test/projects/prj_solo/keys", "live", "/live/projects"],
    ["an unknown project to the list", "/test/projects/prj_nope/keys", "live", "/live/projects"],
    ["a page of the mode to the same page", "/test/overview", "live", "/live/overview"],
    ["a page outside the modes to the projects", "/account", "live", "/live/projects"],
  ])("moves %s", (_name, from, to, expected) => {
    expect(switchTarget(from, to as "test" | "live", projects)).toBe(expected);
  });

  it("reads the mode from the path, and none outside the modes", () => {
    expect(currentMode("/live/projects")).toBe("live");
    expect(currentMode("/account")).toBeNull();
  });
});
