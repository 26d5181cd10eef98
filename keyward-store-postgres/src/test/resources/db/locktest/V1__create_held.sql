CREATE TABLE held (id int);
