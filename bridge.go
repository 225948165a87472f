package pistoke

import "github.com/pistoke/pistoke/internal/hook"

func init() {
	hook.CloseCounting = func(conn any, code int, reason string) (int, error) {
		return conn.(*Conn).close(code, reason)
	}
}
