// Validates FHIR STU3 resources with FHIR.js (lantanagroup) and the official FHIR 3.0.1
// StructureDefinitions that its npm package ships under test/data/stu3/schema: a validator
// that shares nothing with the product's fhir.resources models.
//
// Usage: node validate.js FILE  where FILE holds a JSON array of {"name", "format", "body"}
// (format "json" or "xml"; body the response text). Prints a JSON array of
// {"name", "errors": [...]} to stdout: every message of severity error or warning, except
// FHIR.js's notes that it has no ValueSet to check a code against (it ships no STU3 ValueSets).
"use strict";
const fs = require("fs");
const path = require("path");
const Fhir = require("fhir");
const ParseConformance = require("fhir/parseConformance");

const definitions = path.join(path.dirname(require.resolve("fhir/package.json")), "test/data/stu3/schema");
const parser = new ParseConformance(false, ParseConformance.VERSIONS.STU3);
parser.parseBundle(JSON.parse(fs.readFileSync(path.join(definitions, "profiles-types.json"))));
parser.parseBundle(JSON.parse(fs.readFileSync(path.join(definitions, "profiles-resources.json"))));
const fhir = new Fhir(parser);

const items = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = items.map((item) => {
  let resource;
  try {
    resource = item.format === "xml" ? fhir.xmlToObj(item.body) : JSON.parse(item.body);
  } catch (err) {
    return { name: item.name, errors: [`unreadable ${item.format}: ${err.message}`] };
  }
  const result = fhir.validate(resource, { errorOnUnexpected: true });
  const errors = result.messages
    .filter((m) => m.severity === "error" || m.severity === "warning")
    .map((m) => `${m.severity} ${m.location}: ${m.message}`);
  if (!result.valid && errors.length === 0) errors.push("invalid (no message)");
  return { name: item.name, errors };
});
process.stdout.write(JSON.stringify(out));
