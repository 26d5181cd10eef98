package io.keyward.schema;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code db lint}'s findings as text, JSON or SARIF 2.1.0 (for code-scanning tools). */
public final class LintOutput {
  private LintOutput() {}

  /** One finding a line (and its fix), then a summary line. */
  public static String text(LintCheck.Report report, boolean strict) {
    StringBuilder out = new StringBuilder();
    for (Finding finding : report.findings()) {
      out.append(finding.text()).append('\n');
    }
    long errors = report.findings().stream().filter(f -> f.counts(false)).count();
    long warnings = report.findings().stream()
        .filter(f -> f.allowedBecause() == null && f.severity() == Finding.Severity.WARNING).count();
    long allowed = report.findings().stream().filter(f -> f.allowedBecause() != null).count();
    out.append(errors).append(" error(s), ").append(warnings).append(" warning(s)")
        .append(strict ? " (strict: warnings fail)" : "").append(", ").append(allowed)
        .append(" allowed; ").append(report.checkedFiles().size()).append(" migration(s) in ")
        .append(report.elapsedMillis()).append(" ms\n");
    return out.toString();
  }

  /** The findings as a JSON-ready map. */
  public static Map<String, Object> json(LintCheck.Report report) {
    Map<String, Object> root = new LinkedHashMap<>();
    List<Map<String, Object>> findings = new ArrayList<>();
    for (Finding f : report.findings()) {
      Map<String, Object> item = new LinkedHashMap<>();
      item.put("file", f.file());
      item.put("line", f.line());
      item.put("rule", f.rule());
      item.put("severity", f.severity().label());
      item.put("message", f.message());
      item.put("fix", f.fix());
      item.put("allowed", f.allowedBecause());
      findings.add(item);
    }
    root.put("findings", findings);
    root.put("checkedFiles", report.checkedFiles());
    root.put("elapsedMillis", report.elapsedMillis());
    return root;
  }

  /**
   * SARIF 2.1.0: one run of the tool "keyward db lint", a rule per rule id, a result per finding
   * (allowed findings carry an accepted suppression with the reason).
   *
   * @param root the directory file paths are relative to, as a URI base
   */
  public static Map<String, Object> sarif(LintCheck.Report report, String root) {
    Map<String, Object> rules = new LinkedHashMap<>();
    List<Map<String, Object>> results = new ArrayList<>();
    for (Finding f : report.findings()) {
      rules.computeIfAbsent(f.rule(), id -> Map.of("id", id,
          "shortDescription", Map.of("text", id.replace('-', ' ')),
          "help", Map.of("text", f.fix())));
      Map<String, Object> result = new LinkedHashMap<>();
      result.put("ruleId", f.rule());
      result.put("level", f.severity() == Finding.Severity.ERROR ? "error" : "warning");
      result.put("message", Map.of("text", f.message() + " Fix: " + f.fix()));
      result.put("locations", List.of(Map.of("physicalLocation", Map.of(
          "artifactLocation", Map.of("uri", f.file(), "uriBaseId", "MIGRATIONS"),
          "region", Map.of("startLine", Math.max(1, f.line()))))));
      if (f.allowedBecause() != null) {
        result.put("suppressions", List.of(Map.of("kind", "inSource", "status", "accepted",
            "justification", f.allowedBecause())));
      }
      results.add(result);
    }
    Map<String, Object> driver = new LinkedHashMap<>();
    driver.put("name", "keyward db lint");
    driver.put("rules", new ArrayList<>(rules.values()));
    Map<String, Object> run = new LinkedHashMap<>();
    run.put("tool", Map.of("driver", driver));
    run.put("originalUriBaseIds", Map.of("MIGRATIONS", Map.of("uri", root.endsWith("/") ? root : root + "/")));
    run.put("results", results);
    Map<String, Object> sarif = new LinkedHashMap<>();
    sarif.put("$schema", "https://json.schemastore.org/sarif-2.1.0.json");
    sarif.put("version", "2.1.0");
    sarif.put("runs", List.of(run));
    return sarif;
  }
}
