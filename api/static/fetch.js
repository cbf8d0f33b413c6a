// The pages' JSON, fetched with the session: a refused request rejects with the problem
// body's detail (or the status text), so every page words its error the same way.
(function () {
  "use strict";
  window.slipguardJson = function (url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          return response.json().then(
            function (problem) { throw new Error(problem.detail || response.statusText); },
            function () { throw new Error(response.statusText); }
          );
        }
        return response.json();
      });
  };
})();
