package io.keyward.schema;

import io.keyward.store.postgres.PostgresKeyStore;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.OptionalInt;

/**
 * Keyward's own contracts and seed: the contract of the last release (kept in this module, the
 * default of {@code keyward db compat}), this build's contract, and rows for its tables.
 */
public final class KeywardContracts {
  /** The last released version, whose contract the migrations of this build must keep. */
  public static final String LAST_RELEASE = "0.1.0";

  private KeywardContracts() {}

  /** The query contract of the last release. */
  public static QueryContract lastRelease() {
    return QueryContract.parse(resource("contracts/keyward-" + LAST_RELEASE + ".sql"));
  }

  /**
   * This build's query contract, with the schema version its migrations reach. A statement that
   * the last release issued word for word takes its example arguments from that release's file.
   */
  public static QueryContract current(int schemaVersion) {
    java.util.Set<String> gated = new java.util.HashSet<>(
        io.keyward.store.postgres.NodeRegistry.QUERY_CONTRACT);
    gated.addAll(io.keyward.store.postgres.PostgresSwitchStore.QUERY_CONTRACT);
    gated.addAll(io.keyward.store.postgres.PostgresUsageStore.QUERY_CONTRACT);
    gated.addAll(io.keyward.store.postgres.UsageOutbox.QUERY_CONTRACT);
    QueryContract plain = QueryContract.of(PostgresKeyStore.QUERY_CONTRACT, gated,
        OptionalInt.of(schemaVersion));
    java.util.Map<String, java.util.List<String>> released = new java.util.HashMap<>();
    for (QueryContract.ContractStatement statement : lastRelease().statements()) {
      if (statement.args() != null) {
        released.put(statement.sql(), statement.args());
      }
    }
    java.util.List<QueryContract.ContractStatement> statements = new java.util.ArrayList<>();
    for (QueryContract.ContractStatement statement : plain.statements()) {
      String asWritten = QueryContract.parse(new QueryContract(java.util.List.of(statement),
          OptionalInt.empty()).write("")).statements().get(0).sql();
      statements.add(new QueryContract.ContractStatement(statement.sql(), 0,
          released.get(asWritten), statement.gated()));
    }
    return new QueryContract(java.util.List.copyOf(statements), plain.schemaVersion());
  }

  /**
   * This build's contract in the file format, as a node records it in the registry (and the
   * migration gate reads it back): {@code release} names it.
   */
  public static String currentText(String release) {
    QueryContract current = current(0);
    return new QueryContract(current.statements(), OptionalInt.empty())
        .write("The query contract of Keyward " + release);
  }

  /** Rows for Keyward's tables ({@code ${rows}} placeholder). */
  public static String seed() {
    return resource("seed/keyward.sql");
  }

  private static String resource(String name) {
    try (InputStream in = KeywardContracts.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException(name + " is missing from the build");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
