CREATE TABLE built (id int);
