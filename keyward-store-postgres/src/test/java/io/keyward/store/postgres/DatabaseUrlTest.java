package io.keyward.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class DatabaseUrlTest {
  @Test
  void jdbcUrlIsTakenAsItIs() {
    DatabaseUrl url = DatabaseUrl.parse("jdbc:postgresql://127.0.0.1:5432/keyward?user=postgres");

    assertThat(url.jdbcUrl()).isEqualTo("jdbc:postgresql://127.0.0.1:5432/keyward?user=postgres");
    assertThat(url.user()).isNull();
  }

  @Test
  void hostingProviderUrlBecomesJdbcWithDecodedCredentials() {
    DatabaseUrl url = DatabaseUrl.parse("postgres://app:p%40ss%3Aword@db.example.com:6543/kw?sslmode=require");

    assertThat(url.jdbcUrl()).isEqualTo("jdbc:postgresql://db.example.com:6543/kw?sslmode=require");
    assertThat(url.user()).isEqualTo("app");
    assertThat(url.password()).isEqualTo("p@ss:word");
  }

  @Test
  void postgresqlSchemeWithoutPortOrDatabaseDefaults() {
    DatabaseUrl url = DatabaseUrl.parse("postgresql://me@localhost");

    assertThat(url.jdbcUrl()).isEqualTo("jdbc:postgresql://localhost/postgres");
    assertThat(url.user()).isEqualTo("me");
    assertThat(url.password()).isNull();
  }

  @Test
  void passwordNeverAppearsInTheTextForm() {
    assertThat(DatabaseUrl.parse("postgres://u:hunter2@h/db").toString()).doesNotContain("hunter2");
    assertThat(DatabaseUrl.parse("jdbc:postgresql://h/db?user=u&password=hunter2").toString())
        .doesNotContain("hunter2");
  }

  @Test
  void badUrlsAreRefusedSayingWhy() {
    assertThatThrownBy(() -> DatabaseUrl.parse("mysql://h/db")).hasMessageContaining("'mysql'");
    assertThatThrownBy(() -> DatabaseUrl.parse("")).hasMessageContaining("empty");
    assertThatThrownBy(() -> DatabaseUrl.parse("postgres:///db")).hasMessageContaining("no host");
    assertThatThrownBy(() -> DatabaseUrl.parse("postgres://u:secret@h /db"))
        .hasMessageContaining("not a valid URL").hasMessageNotContaining("secret");
  }
}
