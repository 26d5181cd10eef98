package io.keyward.cli;

import io.keyward.admin.IssuedKey;
import io.keyward.admin.KeyAdministration;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyIds;
import io.keyward.server.RootKeyFile;
import io.keyward.store.postgres.ConnectionPool;
import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.store.postgres.EmbeddedDatabase;
import io.keyward.store.postgres.Migrations;
import io.keyward.store.postgres.PostgresKeyStore;
import java.io.PrintWriter;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Creates a root key straight in the database: the way back in when the root key is lost. */
@Command(name = "root-key", mixinStandardHelpOptions = true,
    description = "Root key recovery.", subcommands = RootKeyCommand.Create.class)
final class RootKeyCommand {

  @Command(name = "create", mixinStandardHelpOptions = true,
      description = "Create a new root key directly in the database (needs database access, not an"
          + " API key), print it once and write it to <data-dir>/root.key. With the embedded"
          + " database, stop the server first.")
  static final class Create implements Callable<Integer> {
    @Mixin DatabaseOptions database;
    @Spec CommandSpec spec;

    @Option(names = "--key-prefix", defaultValue = "${env:KEYWARD_KEY_PREFIX:-kw}",
        description = "Prefix of the new key (default: ${DEFAULT-VALUE}).")
    String keyPrefix;

    @Option(names = "--print-root-key", negatable = false,
        defaultValue = "${env:KEYWARD_PRINT_ROOT_KEY:-false}",
        description = "Print the key even when standard output is not a terminal.")
    boolean printRootKey;

    @Override
    public Integer call() throws Exception {
      KeyFormat format = KeyFormat.withPrefix(keyPrefix);
      RootKeyFile file = new RootKeyFile(database.dataDir);
      if (java.nio.file.Files.exists(file.path())) {
        // Checked before anything is created: it may hold the only working root key.
        throw new IllegalStateException(file.path() + " exists; move it away first (it may hold"
            + " a working root key), then run this again");
      }
      DatabaseUrl url = database.databaseUrl();
      EmbeddedDatabase embedded = null;
      if (url == null) {
        embedded = EmbeddedDatabase.start(database.dataDir);
        url = embedded.url();
      }
      try (var pool = ConnectionPool.open(url, 2)) {
        Migrations.migrate(url);
        Clock clock = Clock.systemUTC();
        var admin = new KeyAdministration(format, new PostgresKeyStore(pool), clock,
            new KeyIds(clock, new SecureRandom()), hash -> {});
        java.nio.file.Files.createDirectories(database.dataDir);
        IssuedKey key = admin.createRootKey();
        file.writePending(key);
        file.commit();
        PrintWriter out = spec.commandLine().getOut();
        if (printRootKey || StopSignals.stdoutIsTerminal()) {
          out.println("Created a root key (" + key.record().keyId() + "). It is shown once:");
          out.println();
          out.println("    " + key.secret());
          out.println();
          out.println("Also written to " + file.path() + " (mode 0600).");
        } else {
          out.println("Created a root key (" + key.record().keyId() + ") and wrote it to "
              + file.path() + " (mode 0600). It is not printed: standard output is not a"
              + " terminal (--print-root-key prints it).");
        }
        out.println("Revoke lost root keys with `keyward keys revoke <keyId>`.");
        out.flush();
        return 0;
      } finally {
        if (embedded != null) {
          embedded.close();
        }
      }
    }
  }
}
