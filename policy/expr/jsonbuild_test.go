package expr

import (
	"strings"
	"testing"
)

// TestJSONBuilding pins JSON building to Newtonsoft.Json's documented
// results (newtonsoft.com/json/help: JObject, JArray, JProperty,
// JToken.ToString(Formatting), JsonConvert.SerializeObject of anonymous
// types; default string escaping; ISO 8601 dates in UTC with "Z").
func TestJSONBuilding(t *testing.T) {
	e := newEnv()
	for _, tc := range []struct {
		src  string
		want any
	}{
		{`@(new JObject(new JProperty("id", 7), new JProperty("name", "a\"b"), new JProperty("ok", true), new JProperty("none", null)).ToString(Formatting.None))`, `{"id":7,"name":"a\"b","ok":true,"none":null}`},
		{`@(new JArray("a", 1, false).ToString(Formatting.None))`, `["a",1,false]`},
		{`@(new JArray("x,y".Split(',')).ToString(Formatting.None))`, `["x","y"]`},
		{`@(JsonConvert.SerializeObject(new { id = 7, tags = new [] {"a", "b"}, at = new DateTime(2026, 12, 2, 19, 15, 40), nested = new { ok = true } }))`, `{"id":7,"tags":["a","b"],"at":"2026-12-02T19:15:40Z","nested":{"ok":true}}`},
		{`@(JsonConvert.SerializeObject(new { a = 1, b = new JArray() }, Formatting.Indented))`, "{\n  \"a\": 1,\n  \"b\": []\n}"},
		{`@(JsonConvert.SerializeObject("tab\there\u0001"))`, `"tab\there\u0001"`},
		{`@{ var o = JObject.Parse("{\"a\":{\"b\":1},\"list\":[1,2]}"); o["a"]["b"] = 2; o["a"]["c"] = "x"; o["list"][1] = new JObject(); o["top"] = context.Request.Method; return o.ToString(Formatting.None); }`, `{"a":{"b":2,"c":"x"},"list":[1,{}],"top":"POST"}`},
		{`@{ var o = new JObject(); o.Add("a", 1); o.Add(new JProperty("b", "c")); var arr = new JArray(); arr.Add("x"); arr.Add(2); o["arr"] = arr; o.Remove("a"); return o.ToString(Formatting.None); }`, `{"b":"c","arr":["x",2]}`},
		{`@{ var o = JObject.Parse("{\"a\":1}"); var removed = o.Remove("zz"); return removed + o.ToString(Formatting.None); }`, `False{"a":1}`},
		{`@(JsonConvert.DeserializeObject<JObject>("{\"a\":[1,2]}")["a"][1].ToString())`, "2"},
		{`@((string)JObject.Parse("{\"name\":\"Ann\"}")["name"])`, "Ann"},
		{`@(JObject.Parse("{\"a\":{\"b c\":[10,{\"d\":\"x\"}]}}").SelectToken("a['b c'][1].d").ToString())`, "x"},
		{`@(JObject.Parse("{\"n\":5,\"s\":\"t\",\"ok\":true}").Value<int>("n") + JObject.Parse("{\"n\":5}").Value<string>("n"))`, "55"},
		{`@(JObject.Parse("{\"ok\":true}").Value<bool>("ok"))`, true},
		{`@(JObject.Parse("{}").Value<string>("missing") ?? "none")`, "none"},
		{`@(JObject.Parse("{\"a\":[1,2,3]}")["a"].Count)`, int64(3)},
		{`@{ var o = JObject.Parse("{\"a\":[],\"b\":1.5,\"c\":\"s\",\"d\":null,\"e\":false,\"f\":2}"); return o.Type + o["a"].Type + o["b"].Type + o["c"].Type + o["d"].Type + o["e"].Type + o["f"].Type + o["a"].HasValues + o.HasValues; }`, "ObjectArrayFloatStringNullBooleanIntegerFalseTrue"},
		{`@(JObject.Parse("{\"a\":{}}")["a"].Type == JTokenType.Object)`, true},
		{`@{ var env = new JArray(); foreach (var id in "1,2".Split(',')) { env.Add(new { id = id, eventType = "Orders.Created", dataVersion = "1.0" }); } return JsonConvert.SerializeObject(env); }`, `[{"id":"1","eventType":"Orders.Created","dataVersion":"1.0"},{"id":"2","eventType":"Orders.Created","dataVersion":"1.0"}]`},
	} {
		got, err := eval(t, tc.src, e)
		if err != nil || got != tc.want {
			t.Errorf("%s = %#v, %v; want %#v", tc.src, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ src, want string }{
		{`@(JObject.Parse("[1]").ToString())`, "Error reading JObject from JsonReader."},
		{`@(JObject.Parse("{nope").ToString())`, "Unexpected character encountered while parsing value."},
		{`@{ var o = new JObject(); o.Add("a", 1); o.Add("a", 2); return o.ToString(); }`, "Can not add property a to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object."},
		{`@{ var o = new JObject(); o["a"]["b"] = 1; return o.ToString(); }`, "Object reference not set to an instance of an object."},
		{`@{ var a = new JArray(1); a[3] = 1; return a.ToString(); }`, "Index was out of range."},
		{`@(JObject.Parse("{}").Value<int>("n"))`, "Object reference not set to an instance of an object."},
		{`@(JObject.Parse("{\"s\":\"x\"}")["s"].Count)`, "Cannot access child value on String."},
		{`@{ var o = new JObject(); var s = "xxxxxxxxxxxxxxxx"; while (true) { s = s + s; o["k"] = s; } return o.ToString(); }`, "The expression built a string longer than 1048576 bytes."},
	} {
		if _, err := eval(t, tc.src, e); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v; want %s", tc.src, err, tc.want)
		}
	}
	for _, tc := range []struct{ src, want string }{
		{`@{ var s = "a"; s["x"] = 1; return s; }`, "only a JObject or JArray variable can be changed"},
		{`@(new JObject("a"))`, "want JProperty, got string"},
	} {
		if _, err := Compile(tc.src); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v; want %s", tc.src, err, tc.want)
		}
	}
}

// Indentation multiplies a deep document's size: Formatting.Indented is
// bounded by the string budget before the text is made, and the bound is
// never below the real size.
func TestIndented_bounded(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 60) + `[` + strings.Repeat(`1,`, 100_000) + `1]` + strings.Repeat(`}`, 60)
	req := deep
	e := newEnv()
	e.bodies[0] = &req
	if _, err := eval(t, `@(context.Request.Body.As<JObject>(preserveContent: true).ToString(Formatting.Indented))`, e); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("a 200 KB document 60 levels deep, indented: err = %v, want the string budget", err)
	}
	for _, raw := range []string{`{}`, `[]`, `{"a":[1,{"b":"x,y:{"}],"c":{}}`, `[[[]],[{"k":"\"]"}]]`, `"s"`, `1`, deep[:0] + `{"a":{"b":{"c":[1,2,3]}}}`} {
		got, err := indented(raw)
		if err != nil || len(got) > indentedBound(raw) {
			t.Errorf("%s: %d bytes, bound %d, %v", raw, len(got), indentedBound(raw), err)
		}
	}
}
