package io.keyward.admin;

/** A request field failed validation; the message names the field and the problem. */
public final class InvalidFieldException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;
  private final String field;

  public InvalidFieldException(String field, String problem) {
    super(field + ": " + problem);
    this.field = field;
  }

  /** The offending field's name, as in the API. */
  public String field() {
    return field;
  }
}
