/** A Jakarta Servlet filter putting Keyward in front of a servlet application. */
module io.keyward.servlet {
  requires transitive io.keyward.client;
  requires jakarta.servlet;

  exports io.keyward.servlet;
}
