"""Domain operations: each write is a synchronous ``op(tx)`` run by the database writer, each
read a synchronous ``fn(conn)``; API handlers, connectors and the router call these and never
touch tables themselves."""
