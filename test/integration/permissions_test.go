package integration_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/adapters/amqp"
)

// brokerUser creates a RabbitMQ user on the management API with perms on
// the default vhost, deleted when the test ends, and returns the AMQP URL
// that logs in as it.
func brokerUser(t *testing.T, f *fleet, name string, perms amqp.Permissions) string {
	t.Helper()
	api := strings.TrimSuffix(f.b.Kit().Management(t), "/")
	do := func(method, path string, body any) {
		t.Helper()
		var data []byte
		if body != nil {
			data, _ = json.Marshal(body)
		}
		req, err := http.NewRequestWithContext(t.Context(), method, api+path, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
	}
	password := "pw-" + name
	do(http.MethodPut, "/api/users/"+name, map[string]string{"password": password, "tags": ""})
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, api+"/api/users/"+name, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	do(http.MethodPut, "/api/permissions/%2F/"+name, map[string]string{
		"configure": perms.Configure, "write": perms.Write, "read": perms.Read})
	u, err := url.Parse(f.b.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(name, password)
	return u.String()
}

// TestLeastPrivilegeBroker: with amqp.LeastPrivilege's permissions (what
// topicrpc broker-permissions prints), a server account serves and a caller
// account calls, the register telling who should answer; the caller
// account cannot bind a queue to the request exchange, consume a server's
// queue, or publish to a queue directly.
func TestLeastPrivilegeBroker(t *testing.T) {
	t.Parallel()
	f := newFleet(t, false)
	srvPerms, callerPerms := amqp.LeastPrivilege(f.ns)
	id := f.space.ID()
	serverURL := brokerUser(t, f, "srv-"+id, srvPerms)
	callerURL := brokerUser(t, f, "caller-"+id, callerPerms)

	bins.Start(t, "topicrpcd", "--url", serverURL, "--namespace", f.ns, "--name", "p1", "--bind", "pg.#")
	r := bins.Run(t, "", "topicrpc", "call", "--url", callerURL, "--namespace", f.ns, "--timeout", "5s", "-o", "json", "pg", "echo|least")
	if r.Code != 0 && !strings.Contains(r.Out, `"type":"summary"`) {
		t.Fatalf("call as the caller account: exit %d\n%s%s", r.Code, r.Out, r.Err)
	}
	s := lastSummary(t, r.Out)
	if r.Code != 0 || s.Expected != 1 || s.OK != 1 || s.Reason != "all_replied" {
		t.Fatalf("call as the caller account: exit %d, summary %+v\n%s", r.Code, s, r.Err)
	}

	// Jobs too: the caller account records one and reads it back.
	async := bins.Run(t, "", "topicrpc", "call", "--async", "--url", callerURL, "--namespace", f.ns, "pg", "echo|job")
	jobID := strings.TrimSpace(async.Out)
	job := bins.Run(t, "", "topicrpc", "job", "--wait", "--url", callerURL, "--namespace", f.ns, jobID)
	if async.Code != 0 || job.Code != 0 || !strings.Contains(job.Out, "p1 ") || !strings.Contains(job.Out, "job") {
		t.Errorf("call --async then job as the caller account: exit %d, %d\n%s%s%s", async.Code, job.Code, async.Err, job.Out, job.Err)
	}

	// Presence too: the caller account watches on a queue of its own.
	live := bins.Run(t, "", "topicrpc", "servers", "--live", "--url", callerURL, "--namespace", f.ns)
	if live.Code != 0 || !strings.Contains(live.Out, "p1 ") {
		t.Errorf("servers --live as the caller account: exit %d\n%s%s", live.Code, live.Out, live.Err)
	}

	conn, err := amqp091.Dial(callerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	refused := func(what string, try func(*amqp091.Channel) error) {
		t.Helper()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		err = try(ch)
		var e *amqp091.Error
		if !errors.As(err, &e) || e.Code != amqp091.AccessRefused {
			t.Errorf("the caller account could %s: %v", what, err)
		}
	}
	refused("bind a queue to the request exchange", func(ch *amqp091.Channel) error {
		q, err := ch.QueueDeclare("", false, true, true, false, nil)
		if err != nil {
			return fmt.Errorf("declare: %w", err)
		}
		return ch.QueueBind(q.Name, "#", f.ns, false, nil)
	})
	refused("consume a server's queue", func(ch *amqp091.Channel) error {
		_, err := ch.Consume(f.ns+".p1", "", true, false, false, false, nil)
		return err
	})
	refused("publish to a server's queue directly", func(ch *amqp091.Channel) error {
		if err := ch.Confirm(false); err != nil {
			return err
		}
		if err := ch.Publish("", f.ns+".p1", false, false, amqp091.Publishing{Body: []byte("x")}); err != nil {
			return err
		}
		// A refused publish closes the channel; give the broker a moment to say so.
		select {
		case e := <-ch.NotifyClose(make(chan *amqp091.Error, 1)):
			return e
		case <-time.After(5 * time.Second):
			return errors.New("published")
		}
	})
}
