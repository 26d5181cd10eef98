package io.keyward.schema;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

class QueryContractTest {

  @Test
  void writtenContractReadsBackWithItsSchemaArgumentsAndGates() {
    QueryContract contract = new QueryContract(List.of(
        new QueryContract.ContractStatement("SELECT a FROM t WHERE id = ? AND b = ?", 0, null, false),
        new QueryContract.ContractStatement("INSERT INTO t (a) VALUES (?)", 0,
            List.of("f('x, y', 2)", "'z'"), false),
        new QueryContract.ContractStatement("SELECT n FROM nodes WHERE false", 0, null, true)),
        OptionalInt.of(7));

    QueryContract read = QueryContract.parse(contract.write("a test release"));

    assertThat(read.schemaVersion()).hasValue(7);
    assertThat(read.statements()).extracting(QueryContract.ContractStatement::sql).containsExactly(
        "SELECT a FROM t WHERE id = $1 AND b = $2", "INSERT INTO t (a) VALUES ($1)",
        "SELECT n FROM nodes WHERE false");
    assertThat(read.statements().get(1).args()).containsExactly("f('x, y', 2)", "'z'");
    assertThat(read.statements()).extracting(QueryContract.ContractStatement::gated)
        .containsExactly(false, false, true);
  }

  @Test
  void badSchemaHeaderIsRefusedSayingWhatItShouldBe() {
    assertThatThrownBy(() -> QueryContract.parse("-- schema: two\nSELECT 1;"))
        .hasMessageContaining("'-- schema: 2'");
  }

  @Test
  void keywardsReleasedContractIsWhatThatReleaseIssuedAndTodaysKeepsAllOfIt() {
    QueryContract released = KeywardContracts.lastRelease();
    QueryContract current = KeywardContracts.current(4);
    List<String> currentSql = current.statements().stream()
        .map(s -> QueryContract.parse(
            new QueryContract(List.of(s), OptionalInt.empty()).write("x")).statements().get(0).sql())
        .toList();

    // Every statement 0.1.0 issued is still issued, word for word: none was silently changed.
    for (QueryContract.ContractStatement statement : released.statements()) {
      assertThat(currentSql).as(statement.summary()).contains(statement.sql());
    }
  }
}
